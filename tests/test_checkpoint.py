import json

import pytest
import torch

from ssvae.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from ssvae.config import ModelConfig
from ssvae.models import build_model


@pytest.mark.parametrize("kind", ["cnn", "ssvae"])
def test_round_trip_gives_identical_outputs(tmp_path, kind):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, latent_dim=8)).eval()
    save_checkpoint(
        model, tmp_path / "model", card="# card\n", extra_config={"epoch": 3}
    )
    loaded, training = load_checkpoint(tmp_path / "model")
    images = torch.randn(2, 3, 128, 128)
    assert torch.equal(model(images).face_logit, loaded(images).face_logit)
    assert training == {"epoch": 3}
    assert (tmp_path / "model" / "README.md").read_text() == "# card\n"


def test_config_json_rebuilds_model(tmp_path):
    model = build_model(ModelConfig(latent_dim=5))
    save_checkpoint(model, tmp_path)
    config, _ = read_config(tmp_path)
    assert config.latent_dim == 5
    assert (
        json.loads((tmp_path / "config.json").read_text())["model"]["kind"] == "ssvae"
    )


def test_missing_folder_names_path(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing")


def test_pickle_only_folder_is_refused(tmp_path):
    model = build_model(ModelConfig())
    save_checkpoint(model, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle files are never loaded"):
        load_checkpoint(tmp_path)


def test_corrupt_weights_are_reported(tmp_path):
    save_checkpoint(build_model(ModelConfig()), tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path)


def test_weights_from_other_config_are_reported(tmp_path):
    save_checkpoint(build_model(ModelConfig(latent_dim=8)), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model"]["latent_dim"] = 16
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path)
