"""Training and evaluation loops. Callers build the data loaders (sampler, dataset)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ssvae.losses import accuracy, batch_loss, per_image_losses
from ssvae.models import SSVAE, FaceCNN

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, dict[str, float]], None]


@dataclass
class EpochResult:
    """Image-weighted means of an epoch's losses and accuracy."""

    loss: float
    classification_loss: float
    vae_loss: float
    accuracy: float
    images: int
    skipped: list[int] = field(default_factory=list)  # dataset indices not decodable
    face_reconstruction_loss: float = float("nan")  # mean L1 over faces (SS-VAE only)
    z_means: np.ndarray | None = None  # (faces, latent_dim) latent means, evaluate only

    def metrics(self, prefix: str) -> dict[str, float]:
        values = {
            f"{prefix}_loss": self.loss,
            f"{prefix}_classification_loss": self.classification_loss,
            f"{prefix}_vae_loss": self.vae_loss,
            f"{prefix}_accuracy": self.accuracy,
        }
        if not np.isnan(self.face_reconstruction_loss):
            values[f"{prefix}_face_reconstruction_loss"] = self.face_reconstruction_loss
        return values


class _Totals:
    def __init__(self) -> None:
        self.sums = {"total": 0.0, "classification": 0.0, "vae": 0.0, "correct": 0.0}
        self.images = 0
        self.faces = 0
        self.face_reconstruction = 0.0
        self.skipped: list[int] = []

    def add(self, losses: dict[str, torch.Tensor], count: int, correct: float) -> None:
        for name in ("total", "classification", "vae"):
            self.sums[name] += float(losses[name].detach()) * count
        self.sums["correct"] += correct
        self.images += count

    def result(self) -> EpochResult:
        n = max(self.images, 1)
        recon = self.face_reconstruction / self.faces if self.faces else float("nan")
        return EpochResult(
            loss=self.sums["total"] / n,
            classification_loss=self.sums["classification"] / n,
            vae_loss=self.sums["vae"] / n,
            accuracy=self.sums["correct"] / n,
            images=self.images,
            skipped=self.skipped,
            face_reconstruction_loss=recon,
        )


def train_epoch(
    model: FaceCNN | SSVAE,
    loader: Iterable[dict],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    kl_weight: float = 0.0005,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_step: StepCallback | None = None,
    first_step: int = 0,
    description: str = "train",
) -> EpochResult:
    """Run one epoch of training.

    The scheduler, if any, steps after every optimiser step; on_step(step,
    losses) is called after each batch with the global step number.
    """
    model.train()
    totals = _Totals()
    step = first_step
    progress = tqdm(loader, desc=description, unit="batch", leave=False)
    for images, labels in _device_batches(progress, totals, device):
        output = model(images)
        losses = batch_loss(output, images, labels, kl_weight)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

        correct = float(accuracy(output.face_logit.detach(), labels)) * len(labels)
        totals.add(losses, len(labels), correct)
        step += 1
        step_values = {name: float(value.detach()) for name, value in losses.items()}
        progress.set_postfix(loss=f"{step_values['total']:.4f}")
        if on_step is not None:
            on_step(step, step_values)
    _warn_skipped(totals.skipped, loader)
    return totals.result()


@torch.no_grad()
def evaluate(
    model: FaceCNN | SSVAE,
    loader: Iterable[dict],
    device: torch.device,
    kl_weight: float = 0.0005,
    description: str = "validate",
) -> EpochResult:
    """Evaluate in eval mode, decoding z_mean rather than a sample (deterministic).

    The result also carries the latent means of the faces (SS-VAE only).
    """
    model.eval()
    totals = _Totals()
    z_means: list[torch.Tensor] = []
    progress = tqdm(loader, desc=description, unit="batch", leave=False)
    for images, labels in _device_batches(progress, totals, device):
        output = model(images)
        terms = per_image_losses(output, images, labels, kl_weight)
        losses = {name: values.mean() for name, values in terms.items()}
        correct = float(accuracy(output.face_logit, labels)) * len(labels)
        totals.add(losses, len(labels), correct)
        is_face = labels > 0.5
        totals.faces += int(is_face.sum())
        totals.face_reconstruction += float(terms["reconstruction"][is_face].sum())
        if output.z_mean is not None:
            z_means.append(output.z_mean[is_face].cpu())
    _warn_skipped(totals.skipped, loader)
    result = totals.result()
    if z_means:
        result.z_means = torch.cat(z_means).numpy()
    else:
        result.face_reconstruction_loss = float("nan")  # the CNN reconstructs nothing
    return result


def _device_batches(
    batches: Iterable[dict], totals: _Totals, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images, labels) on device, recording skipped files in totals."""
    for batch in batches:
        totals.skipped += batch["skipped"]
        if batch["image"] is None:  # every file of this batch was unreadable
            continue
        images = batch["image"].to(device, non_blocking=True)
        yield images, batch["label"].to(device, non_blocking=True)


def _warn_skipped(skipped: list[int], loader: Iterable[dict]) -> None:
    if not skipped:
        return
    dataset = getattr(loader, "dataset", None)
    files = getattr(dataset, "files", None)
    names = [str(files[i]) for i in skipped[:5]] if files is not None else skipped[:5]
    logger.warning(
        "skipped %d unreadable image(s) this epoch, e.g. %s", len(skipped), names
    )
