"""Configuration dataclasses, saved as JSON beside the weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_KINDS = ("cnn", "ssvae")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model and its input pipeline.

    The defaults are the reference architecture: four stride-2 convolutions
    (3->12->24->48->72 channels, kernels 5, 5, 3, 3, no padding) that turn a
    128x128 image into 72x6x6 = 2592 features, then 2592 -> 512 -> outputs.
    """

    kind: str = "ssvae"  # "cnn" (face logit only) or "ssvae" (logit, z_mean, logvar)
    latent_dim: int = (
        32  # size of z; the SS-VAE encoder emits 2 * latent_dim + 1 values
    )
    image_size: int = 128  # images are resized to image_size x image_size pixels
    conv_channels: tuple[int, ...] = (12, 24, 48, 72)  # output channels per conv
    conv_kernels: tuple[int, ...] = (5, 5, 3, 3)  # kernel size per conv, stride 2
    hidden_dim: int = 512  # width of the fully connected layer after flattening
    # Transposed convs of the decoder as (out_channels, kernel, stride, padding).
    # The decoder starts from a linear layer to decoder_start_channels x s x s.
    decoder_start_size: int = 6
    decoder_layers: tuple[tuple[int, int, int, int], ...] = (
        (48, 3, 3, 2),
        (24, 3, 2, 0),
        (12, 4, 3, 13),
        (3, 6, 2, 0),
    )
    mean: tuple[float, float, float] = IMAGENET_MEAN  # per-channel normalisation
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(
                f"invalid model kind {self.kind!r}: expected one of {MODEL_KINDS}"
            )
        if len(self.conv_channels) != len(self.conv_kernels):
            raise ValueError(
                f"conv_channels {self.conv_channels} and conv_kernels "
                f"{self.conv_kernels} must have the same length"
            )
        # JSON turns tuples into lists; convert back so configs compare equal.
        self.conv_channels = tuple(self.conv_channels)
        self.conv_kernels = tuple(self.conv_kernels)
        self.decoder_layers = tuple(tuple(layer) for layer in self.decoder_layers)
        self.mean = tuple(self.mean)
        self.std = tuple(self.std)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown model config keys {unknown}: this checkpoint was written "
                "by a newer ssvae version; upgrade ssvae to load it"
            )
        return cls(**values)


@dataclass
class TrainConfig:
    """Optimisation settings. The learning rate defaults depend on the model kind."""

    epochs: int = 1
    batch_size: int = 128
    learning_rate: float | None = None  # None: 1e-3 for the CNN, 6e-4 for the SS-VAE
    kl_weight: float = 0.0005  # weight of the KL term inside the per-face VAE loss
    seed: int = 0
    num_workers: int = 2
    log_every: int = 10  # log step metrics every this many optimiser steps
    hflip: bool = False  # random horizontal flips of training images
    augment: bool = False  # random crops and resolution loss (ResolutionAndCrop)
    augment_probability: float = 0.5  # chance of each of the two augmentations
    lr_schedule: str = "constant"  # "constant" or "cosine" (decay to 0 over all steps)

    def resolved_learning_rate(self, kind: str) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-3 if kind == "cnn" else 6e-4
