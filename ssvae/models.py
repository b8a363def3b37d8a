"""The baseline CNN face classifier and the semi-supervised VAE built on it."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ssvae.config import ModelConfig


class ModelOutput(NamedTuple):
    """Outputs of a forward pass; the VAE fields are None for the CNN.

    Shapes for a batch of N images: face_logit (N,), z_mean and logvar
    (N, latent_dim), reconstruction (N, 3, image_size, image_size) in the
    normalised input space.
    """

    face_logit: torch.Tensor
    z_mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None


def conv_output_size(size: int, kernel: int, stride: int = 2, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def transposed_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size - 1) * stride - 2 * padding + kernel


class Encoder(nn.Module):
    """Convolutional feature extractor followed by a two-layer head.

    Each conv has stride 2 and no padding and is followed by ReLU then
    BatchNorm, as in the reference model.
    """

    def __init__(self, config: ModelConfig, num_outputs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels, size = 3, config.image_size
        for out_channels, kernel in zip(
            config.conv_channels, config.conv_kernels, strict=True
        ):
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel, stride=2),
                nn.ReLU(),
                nn.BatchNorm2d(out_channels),
            ]
            in_channels, size = out_channels, conv_output_size(size, kernel)
        if size < 1:
            raise ValueError(
                f"image_size {config.image_size} is too small for the convolutions "
                f"{config.conv_kernels}: the feature map would be empty"
            )
        self.features = nn.Sequential(*layers)
        self.flatten_size = in_channels * size * size
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.flatten_size, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, num_outputs),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class Decoder(nn.Module):
    """Linear layer to a small feature map, then transposed convolutions.

    ReLU follows every layer except the last, whose output is an image in the
    normalised input space (no squashing, since normalised pixels are not
    bounded to [0, 1]).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        start_channels = config.conv_channels[-1]
        start = config.decoder_start_size
        self.start_shape = (start_channels, start, start)
        self.linear = nn.Linear(config.latent_dim, start_channels * start * start)
        layers: list[nn.Module] = []
        in_channels, size = start_channels, start
        for index, (out_channels, kernel, stride, padding) in enumerate(
            config.decoder_layers
        ):
            layers.append(
                nn.ConvTranspose2d(
                    in_channels, out_channels, kernel, stride=stride, padding=padding
                )
            )
            if index < len(config.decoder_layers) - 1:
                layers.append(nn.ReLU())
            in_channels = out_channels
            size = transposed_output_size(size, kernel, stride, padding)
        if in_channels != 3 or size != config.image_size:
            raise ValueError(
                f"decoder_layers {config.decoder_layers} produce {in_channels}x{size}x"
                f"{size} images, but image_size is {config.image_size} with 3 "
                "channels: adjust decoder_layers or decoder_start_size"
            )
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.linear(z)).view(-1, *self.start_shape)
        return self.deconv(features)


class FaceCNN(nn.Module):
    """Baseline face detector: the encoder with a single output, the face logit."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config, num_outputs=1)

    def forward(self, images: torch.Tensor) -> ModelOutput:
        return ModelOutput(face_logit=self.encoder(images)[:, 0])


class SSVAE(nn.Module):
    """Semi-supervised VAE: a face classifier whose encoder is also a VAE encoder.

    The encoder emits 2 * latent_dim + 1 values per image: the face logit, the
    latent mean and the latent log-variance, in that order.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config, num_outputs=2 * config.latent_dim + 1)
        self.decoder = Decoder(config)

    def encode(
        self, images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (face_logit, z_mean, logvar) for a batch of normalised images."""
        outputs = self.encoder(images)
        latent_dim = self.config.latent_dim
        face_logit = outputs[:, 0]
        z_mean = outputs[:, 1 : 1 + latent_dim]
        logvar = outputs[:, 1 + latent_dim :]
        return face_logit, z_mean, logvar

    @staticmethod
    def reparameterize(z_mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Sample z = mean + sigma * eps with sigma = exp(0.5 * logvar)."""
        eps = torch.randn_like(z_mean)
        return z_mean + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, images: torch.Tensor, sample: bool | None = None) -> ModelOutput:
        """Encode, then decode a sampled z (training) or z_mean (eval mode).

        sample overrides that choice: True always samples, False always
        decodes the mean, which makes evaluation deterministic.
        """
        face_logit, z_mean, logvar = self.encode(images)
        if sample is None:
            sample = self.training
        z = self.reparameterize(z_mean, logvar) if sample else z_mean
        return ModelOutput(face_logit, z_mean, logvar, self.decode(z))


def build_model(config: ModelConfig) -> FaceCNN | SSVAE:
    if config.kind == "cnn":
        return FaceCNN(config)
    return SSVAE(config)
