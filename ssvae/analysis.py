"""Latent-space bias analysis of a trained SS-VAE over a set of faces.

All functions work on arrays or run the model in eval mode under
torch.no_grad, batch by batch, on whatever device the model is on.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ssvae.data import FlatImageDataset, Preprocess, collate_skipping_invalid
from ssvae.losses import per_image_losses
from ssvae.models import SSVAE

DEFAULT_PERCENTILES = (5.0, 95.0)
DEFAULT_STEPS = 30
DENSITY_BINS = 50
# Added to every histogram density before the log, so a face in an empty bin
# (or outside the reference range) gets a finite, very low score.
DENSITY_FLOOR = 1e-6


@dataclass
class FaceScores:
    """Per-face results of score_faces; rows follow `table`."""

    table: pd.DataFrame  # file, face_logit, face_probability, losses, log_density
    z_means: np.ndarray  # (faces, latent_dim)


@torch.no_grad()
def score_faces(
    model: SSVAE,
    dataset: FlatImageDataset,
    batch_size: int = 128,
    num_workers: int = 0,
    kl_weight: float = 0.0005,
    progress: bool = True,
) -> FaceScores:
    """Score every face of dataset: logit, probability, losses and latent mean.

    Losses are computed as for a face (label 1), decoding z_mean rather than a
    sample, so scores are deterministic. Unreadable files are left out. The
    work runs in eval mode, and model's own mode and memory format are kept.
    """
    with inference_model(model) as (batched_model, memory_format):
        return _score_batches(
            batched_model,
            dataset,
            memory_format,
            batch_size,
            num_workers,
            kl_weight,
            progress,
        )


@contextmanager
def inference_model(model: SSVAE) -> Iterator[tuple[SSVAE, torch.memory_format]]:
    """Yield model in eval mode, in its device's inference memory format.

    On the CPU that is a channels-last copy. Elsewhere it is model itself,
    whose training mode is restored afterwards.
    """
    memory_format = inference_memory_format(next(model.parameters()).device)
    if memory_format == torch.channels_last:
        yield copy.deepcopy(model).eval().to(memory_format=memory_format), memory_format
        return
    was_training = model.training
    try:
        yield model.eval(), memory_format
    finally:
        model.train(was_training)


def _score_batches(
    model: SSVAE,
    dataset: FlatImageDataset,
    memory_format: torch.memory_format,
    batch_size: int,
    num_workers: int,
    kl_weight: float,
    progress: bool,
) -> FaceScores:
    device = next(model.parameters()).device
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate_skipping_invalid,
        pin_memory=device.type == "cuda",
    )
    rows: dict[str, list[np.ndarray]] = {}
    z_means, indices = [], []
    for batch in tqdm(loader, desc="scoring faces", unit="batch", disable=not progress):
        if batch["image"] is None:
            continue
        images = batch["image"].to(
            device, non_blocking=True, memory_format=memory_format
        )
        output = model(images, sample=False)
        ones = torch.ones_like(output.face_logit)
        terms = per_image_losses(output, images, ones, kl_weight)
        values = {
            "face_logit": output.face_logit,
            "face_probability": torch.sigmoid(output.face_logit),
            "total_loss": terms["total"],
            "reconstruction_loss": terms["reconstruction"],
            "kl": terms["kl"],
        }
        for name, tensor in values.items():
            rows.setdefault(name, []).append(tensor.float().cpu().numpy())
        z_means.append(output.z_mean.float().cpu().numpy())
        indices += batch["index"]
    if not indices:
        raise ValueError(f"no readable face images in {dataset.folder}")
    table = pd.DataFrame({name: np.concatenate(parts) for name, parts in rows.items()})
    table.insert(0, "file", [dataset.files[i].name for i in indices])
    z = np.concatenate(z_means)
    table["log_density"] = LatentDensity.fit(z).log_density(z)
    return FaceScores(table, z)


def inference_memory_format(device: torch.device) -> torch.memory_format:
    """Return the memory format that batched inference uses on device.

    On the CPU, oneDNN runs this model about 1.3x faster with channels-last
    tensors (BENCHMARKS.md). Elsewhere the default layout is kept. NOTE: the
    effect of channels-last on CUDA is not measured yet.
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def loss_ranking(table: pd.DataFrame, count: int = 100, column: str = "total_loss"):
    """Return the `count` lowest rows (ascending) and highest rows (descending)."""
    ordered = table.sort_values(column, kind="stable")
    return ordered.head(count), ordered.tail(count).iloc[::-1]


@dataclass
class LatentDensity:
    """Per-dim histograms of latent means; a face's score sums log densities over dims.

    This treats the dims as independent, as the density-based resampling of
    DB-VAE does. Faces with the lowest score have latents that are rare in the
    reference set: the under-represented faces.
    """

    edges: np.ndarray  # (latent_dim, bins + 1)
    densities: np.ndarray  # (latent_dim, bins), each row integrates to 1

    @classmethod
    def fit(cls, z_means: np.ndarray, bins: int = DENSITY_BINS) -> LatentDensity:
        edges, densities = [], []
        for values in z_means.T:
            low, high = float(values.min()), float(values.max())
            if high - low < 1e-12:  # a constant dim: one narrow bin around it
                low, high = low - 0.5, high + 0.5
            density, edge = np.histogram(
                values, bins=bins, range=(low, high), density=True
            )
            edges.append(edge)
            densities.append(density)
        return cls(np.array(edges), np.array(densities))

    def log_density(self, z_means: np.ndarray) -> np.ndarray:
        """Sum over dims of log(histogram density + floor), shape (faces,).

        Values outside a dim's reference range count as an empty bin.
        """
        total = np.zeros(len(z_means))
        for dim, (edge, density) in enumerate(
            zip(self.edges, self.densities, strict=True)
        ):
            values = z_means[:, dim]
            index = np.clip(
                np.searchsorted(edge, values, side="right") - 1, 0, len(density) - 1
            )
            inside = (values >= edge[0]) & (values <= edge[-1])
            total += np.log(np.where(inside, density[index], 0.0) + DENSITY_FLOOR)
        return total


def percentile_of(value: float, reference: np.ndarray) -> float:
    """Percentage of reference values at or below value (0-100)."""
    return float(np.mean(np.asarray(reference) <= value) * 100.0)


def walk_values(
    z_means: np.ndarray,
    dim: int,
    percentiles=DEFAULT_PERCENTILES,
    steps: int = DEFAULT_STEPS,
) -> np.ndarray:
    """Return evenly spaced values of one dim between two percentiles of z_means."""
    low, high = np.percentile(z_means[:, dim], percentiles)
    return np.linspace(low, high, steps)


@torch.no_grad()
def latent_walk(
    model: SSVAE,
    baseline: torch.Tensor | np.ndarray,
    dim: int,
    values: np.ndarray,
) -> torch.Tensor:
    """Decode copies of the baseline latent with `dim` set to each value.

    Returns (steps, 3, H, W) images in the normalised space; the baseline
    itself is not modified.
    """
    model.eval()
    device = next(model.parameters()).device
    base = torch.as_tensor(np.asarray(baseline, dtype=np.float32)).reshape(1, -1)
    latents = base.repeat(len(values), 1)  # a new tensor, never a view of baseline
    latents[:, dim] = torch.as_tensor(np.asarray(values, dtype=np.float32))
    return model.decode(latents.to(device)).cpu()


def walk_images(
    model: SSVAE, baseline: torch.Tensor | np.ndarray, dim: int, values: np.ndarray
) -> np.ndarray:
    """latent_walk, de-normalised for display: (steps, H, W, 3) uint8."""
    preprocess = Preprocess.from_config(model.config)
    decoded = latent_walk(model, baseline, dim, values)
    return np.stack([preprocess.to_uint8(image) for image in decoded])
