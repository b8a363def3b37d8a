"""Batched inference on in-memory images, used by the demo and the analysis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ssvae.data import Preprocess
from ssvae.losses import per_image_losses
from ssvae.models import SSVAE, FaceCNN


@dataclass
class Prediction:
    """Per-image results of Predictor.predict; VAE fields are None for the CNN."""

    face_probability: np.ndarray  # (N,)
    face_logit: np.ndarray  # (N,)
    inputs: np.ndarray  # (N, H, W, 3) uint8, the preprocessed model inputs
    reconstructions: np.ndarray | None = None  # (N, H, W, 3) uint8
    reconstruction_loss: np.ndarray | None = None  # (N,) mean L1 in normalised space
    kl: np.ndarray | None = None  # (N,)
    z_mean: np.ndarray | None = None  # (N, latent_dim)


class Predictor:
    """Run a model in eval mode on lists of PIL images, batch_size at a time."""

    def __init__(
        self, model: FaceCNN | SSVAE, device: torch.device | str, batch_size: int = 64
    ) -> None:
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.preprocess = Preprocess.from_config(model.config)

    @property
    def is_vae(self) -> bool:
        return isinstance(self.model, SSVAE)

    @torch.no_grad()
    def predict(self, images: Sequence[Image.Image]) -> Prediction:
        if not images:
            raise ValueError("no images to predict on")
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch = torch.stack([self.preprocess(image) for image in chunk])
            for name, values in self._predict_batch(batch.to(self.device)).items():
                parts.setdefault(name, []).append(values)
        merged = {name: np.concatenate(values) for name, values in parts.items()}
        return Prediction(**merged)

    def _predict_batch(self, batch: torch.Tensor) -> dict[str, np.ndarray]:
        output = self.model(batch)
        logits = output.face_logit.float()
        values = {
            "face_logit": logits.cpu().numpy(),
            "face_probability": torch.sigmoid(logits).cpu().numpy(),
            "inputs": self._to_uint8(batch),
        }
        if output.reconstruction is not None:
            # Losses as for a face: the reconstruction term ignores the true label.
            ones = torch.ones_like(logits)
            terms = per_image_losses(output, batch, ones)
            values["reconstructions"] = self._to_uint8(output.reconstruction)
            values["reconstruction_loss"] = terms["reconstruction"].cpu().numpy()
            values["kl"] = terms["kl"].cpu().numpy()
            values["z_mean"] = output.z_mean.float().cpu().numpy()
        return values

    def _to_uint8(self, batch: torch.Tensor) -> np.ndarray:
        return np.stack([self.preprocess.to_uint8(image) for image in batch])
