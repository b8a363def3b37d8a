import pytest
import torch

from ssvae.config import ModelConfig
from ssvae.models import SSVAE, FaceCNN, build_model


def test_reference_encoder_flattens_to_2592():
    model = build_model(ModelConfig())
    assert model.encoder.flatten_size == 2592


def test_ssvae_output_shapes():
    torch.manual_seed(0)
    model = SSVAE(ModelConfig(latent_dim=32)).eval()
    output = model(torch.randn(4, 3, 128, 128))
    assert output.face_logit.shape == (4,)
    assert output.z_mean.shape == (4, 32)
    assert output.logvar.shape == (4, 32)
    assert output.reconstruction.shape == (4, 3, 128, 128)


def test_ssvae_encoder_has_2z_plus_1_outputs():
    model = SSVAE(ModelConfig(latent_dim=16))
    assert model.encoder.head[-1].out_features == 33


def test_cnn_has_one_output_and_no_decoder():
    model = FaceCNN(ModelConfig(kind="cnn")).eval()
    output = model(torch.randn(2, 3, 128, 128))
    assert output.face_logit.shape == (2,)
    assert output.reconstruction is None
    assert model.encoder.head[-1].out_features == 1


def test_encode_splits_logit_mean_logvar_in_order():
    torch.manual_seed(0)
    model = SSVAE(ModelConfig(latent_dim=8)).eval()
    images = torch.randn(3, 3, 128, 128)
    raw = model.encoder(images)
    face_logit, z_mean, logvar = model.encode(images)
    assert torch.equal(face_logit, raw[:, 0])
    assert torch.equal(z_mean, raw[:, 1:9])
    assert torch.equal(logvar, raw[:, 9:17])


def test_reparameterize_uses_half_logvar():
    torch.manual_seed(0)
    z_mean = torch.full((20000, 1), 3.0)
    logvar = torch.full((20000, 1), float(torch.log(torch.tensor(4.0))))
    samples = SSVAE.reparameterize(z_mean, logvar)
    assert abs(samples.mean().item() - 3.0) < 0.05
    assert abs(samples.std().item() - 2.0) < 0.05


def test_eval_forward_is_deterministic():
    torch.manual_seed(0)
    model = SSVAE(ModelConfig()).eval()
    images = torch.randn(2, 3, 128, 128)
    first = model(images)
    second = model(images)
    assert torch.equal(first.reconstruction, second.reconstruction)


def test_training_forward_samples_z():
    torch.manual_seed(0)
    model = SSVAE(ModelConfig()).train()
    images = torch.randn(2, 3, 128, 128)
    assert not torch.equal(model(images).reconstruction, model(images).reconstruction)


def test_other_image_size_computes_flatten_size():
    config = ModelConfig(kind="cnn", image_size=64, conv_kernels=(5, 5, 3, 3))
    model = build_model(config)
    # 64 -> 30 -> 13 -> 6 -> 2 pixels a side, 72 channels.
    assert model.encoder.flatten_size == 72 * 2 * 2
    assert model(torch.randn(1, 3, 64, 64)).face_logit.shape == (1,)


def test_decoder_mismatch_is_rejected():
    with pytest.raises(ValueError, match="decoder_layers"):
        SSVAE(ModelConfig(image_size=64, conv_kernels=(5, 5, 3, 3)))


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="invalid model kind"):
        ModelConfig(kind="gan")


def test_config_round_trips_through_dict():
    config = ModelConfig(latent_dim=12)
    assert ModelConfig.from_dict(config.to_dict()) == config
