"""Loss functions of the face classifier and the semi-supervised VAE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ssvae.models import ModelOutput


def kl_divergence(z_mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per image, summed over latent dims.

    KL = 0.5 * sum_j (exp(logvar_j) + mean_j^2 - 1 - logvar_j), shape (N,).
    """
    return 0.5 * torch.sum(torch.exp(logvar) + z_mean.pow(2) - 1.0 - logvar, dim=1)


def reconstruction_l1(
    images: torch.Tensor, reconstruction: torch.Tensor
) -> torch.Tensor:
    """Mean absolute pixel error per image, in the normalised space, shape (N,)."""
    return (images - reconstruction).abs().flatten(start_dim=1).mean(dim=1)


def per_image_losses(
    output: ModelOutput,
    images: torch.Tensor,
    labels: torch.Tensor,
    kl_weight: float = 0.0005,
) -> dict[str, torch.Tensor]:
    """Per-image loss terms, each of shape (N,).

    classification = BCEWithLogits(face_logit, label)
    reconstruction = mean |x - x_hat| over pixels (L1)
    kl             = KL(q(z|x) || N(0, I)), see kl_divergence
    vae            = label * (reconstruction + kl_weight * kl)
    total          = classification + vae

    The VAE terms count only for faces (label 1), because the decoder learns
    the distribution of faces alone. For the CNN every VAE term is zero.
    """
    labels = labels.to(output.face_logit.dtype)
    classification = F.binary_cross_entropy_with_logits(
        output.face_logit, labels, reduction="none"
    )
    if output.reconstruction is None:
        zeros = torch.zeros_like(classification)
        reconstruction, kl, vae = zeros, zeros, zeros
    else:
        reconstruction = reconstruction_l1(images, output.reconstruction)
        kl = kl_divergence(output.z_mean, output.logvar)
        vae = labels * (reconstruction + kl_weight * kl)
    return {
        "total": classification + vae,
        "classification": classification,
        "vae": vae,
        "reconstruction": reconstruction,
        "kl": kl,
    }


def batch_loss(
    output: ModelOutput,
    images: torch.Tensor,
    labels: torch.Tensor,
    kl_weight: float = 0.0005,
) -> dict[str, torch.Tensor]:
    """Batch losses: each per-image term of per_image_losses, averaged over the batch.

    The VAE term is averaged over the whole batch (non-faces count as zero),
    so total = mean(classification) + mean(label * (L1 + kl_weight * KL)).
    """
    terms = per_image_losses(output, images, labels, kl_weight)
    return {name: values.mean() for name, values in terms.items()}


def accuracy(face_logit: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of images classified correctly; logit > 0 means probability > 0.5."""
    predictions = (face_logit > 0).to(labels.dtype)
    return (predictions == labels).float().mean()
