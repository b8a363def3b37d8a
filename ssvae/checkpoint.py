"""Model folders: config.json + model.safetensors + a model card README.md.

Loading reads JSON and safetensors only, so no pickled code is ever run.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ssvae.config import ModelConfig
from ssvae.models import SSVAE, FaceCNN, build_model

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class CheckpointError(ValueError):
    """A model folder that is missing, incomplete or corrupt."""


def write_atomic(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over path."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; model files are shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_checkpoint(
    model: FaceCNN | SSVAE,
    folder: str | Path,
    card: str | None = None,
    extra_config: dict | None = None,
) -> Path:
    """Write the model folder; every file is replaced atomically.

    extra_config entries (e.g. training metrics) are stored in config.json
    under "training" and ignored when the model is rebuilt.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model": model.config.to_dict(), "training": extra_config or {}}
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    write_atomic(folder / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
    state = {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in model.state_dict().items()
    }
    write_atomic(
        folder / WEIGHTS_FILE,
        lambda tmp: save_file(state, tmp, metadata={"format": "pt"}),
    )
    if card is not None:
        write_atomic(folder / CARD_FILE, lambda tmp: Path(tmp).write_text(card))
    return folder


def read_config(folder: str | Path) -> tuple[ModelConfig, dict]:
    """Return the model config and the "training" entries of a model folder."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path} not found: a model folder needs {CONFIG_FILE} and "
            f"{WEIGHTS_FILE} (written by training.train)"
        )
    try:
        values = json.loads(path.read_text())
        return ModelConfig.from_dict(values["model"]), values.get("training", {})
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path} is not a valid model config: {error}") from error


def load_checkpoint(
    folder: str | Path, device: torch.device | str = "cpu"
) -> tuple[FaceCNN | SSVAE, dict]:
    """Rebuild a folder's model in eval mode; return it and its training record."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(
            f"model folder {folder} not found: pass a folder written by "
            "training.train (config.json + model.safetensors)"
        )
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        pickles = sorted(
            p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES
        )
        hint = (
            f"; found {pickles}, but pickle files are never loaded because they can "
            "run arbitrary code"
            if pickles
            else ""
        )
        raise CheckpointError(f"{weights} not found{hint}")
    config, training = read_config(folder)
    model = build_model(config)
    try:
        state = load_file(weights)
    except Exception as error:  # safetensors raises its own error types
        raise CheckpointError(f"{weights} is corrupt or unreadable: {error}") from error
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"{weights} does not match {folder / CONFIG_FILE}: {error}"
        ) from error
    return model.to(device).eval(), training
