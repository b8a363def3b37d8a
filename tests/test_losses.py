import math

import torch

from ssvae.losses import (
    accuracy,
    batch_loss,
    kl_divergence,
    per_image_losses,
    reconstruction_l1,
)
from ssvae.models import ModelOutput


def test_kl_of_prior_is_zero():
    assert kl_divergence(torch.zeros(2, 4), torch.zeros(2, 4)).tolist() == [0.0, 0.0]


def test_kl_matches_hand_computation():
    z_mean = torch.tensor([[1.0, -2.0]])
    logvar = torch.tensor([[math.log(2.0), 0.0]])
    # 0.5 * ((2 + 1 - 1 - ln 2) + (1 + 4 - 1 - 0))
    expected = 0.5 * ((2 + 1 - 1 - math.log(2.0)) + 4.0)
    assert abs(kl_divergence(z_mean, logvar).item() - expected) < 1e-6


def test_reconstruction_l1_is_mean_absolute_error():
    images = torch.zeros(1, 3, 2, 2)
    reconstruction = torch.zeros(1, 3, 2, 2)
    reconstruction[0, 0, 0, 0] = 6.0  # one pixel of 12 off by 6
    assert reconstruction_l1(images, reconstruction).item() == 0.5


def _output(logits, z_mean, logvar, reconstruction):
    return ModelOutput(torch.tensor(logits), z_mean, logvar, reconstruction)


def test_non_faces_contribute_no_vae_loss():
    images = torch.zeros(2, 3, 2, 2)
    reconstruction = torch.ones(2, 3, 2, 2)  # L1 = 1 for both images
    z_mean = torch.ones(2, 1)
    logvar = torch.zeros(2, 1)  # KL = 0.5 per image
    output = _output([0.0, 0.0], z_mean, logvar, reconstruction)
    terms = per_image_losses(output, images, torch.tensor([1.0, 0.0]), kl_weight=0.1)
    assert abs(terms["vae"][0].item() - (1.0 + 0.1 * 0.5)) < 1e-6
    assert terms["vae"][1].item() == 0.0


def test_batch_loss_matches_formula():
    images = torch.zeros(2, 3, 2, 2)
    reconstruction = torch.full((2, 3, 2, 2), 0.5)
    z_mean = torch.zeros(2, 1)
    logvar = torch.zeros(2, 1)
    output = _output([2.0, -1.0], z_mean, logvar, reconstruction)
    labels = torch.tensor([1.0, 0.0])
    losses = batch_loss(output, images, labels, kl_weight=0.0005)
    bce = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    vae = (0.5 + 0.0) / 2  # the face's L1 of 0.5, averaged over the batch of 2
    assert abs(losses["classification"].item() - bce) < 1e-6
    assert abs(losses["vae"].item() - vae) < 1e-6
    assert abs(losses["total"].item() - (bce + vae)) < 1e-6


def test_cnn_output_has_zero_vae_loss():
    output = ModelOutput(torch.tensor([0.3, -0.2]))
    losses = batch_loss(output, torch.zeros(2, 3, 2, 2), torch.tensor([1.0, 0.0]))
    assert losses["vae"].item() == 0.0
    assert losses["total"].item() == losses["classification"].item()


def test_accuracy_thresholds_logit_at_zero():
    logits = torch.tensor([0.2, -0.2, 0.4, -3.0])
    labels = torch.tensor([1.0, 0.0, 1.0, 1.0])
    # Logits 0.2 and 0.4 are faces (probability > 0.5); 0.5 is no logit threshold.
    assert accuracy(logits, labels).item() == 0.75
