"""Model loading from a folder, an MLflow run, the Hub or the bundled default."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ssvae.checkpoint import CheckpointError, load_checkpoint
from ssvae.models import SSVAE, FaceCNN
from ssvae.tracking import PROJECT_ROOT, configure_mlflow

logger = logging.getLogger(__name__)

BUNDLED_MODEL_DIR = PROJECT_ROOT / "models" / "ssvae-default"
MLFLOW_MODEL_PATH = "model"  # artifact path of the model folder inside a run


@dataclass
class LoadedModel:
    model: FaceCNN | SSVAE
    folder: Path  # local model folder the weights were read from
    source: str  # human-readable origin, shown in the app
    training: dict  # the "training" entries of config.json


def load_folder(
    folder: str | Path, device: torch.device, source: str | None = None
) -> LoadedModel:
    model, training = load_checkpoint(folder, device)
    return LoadedModel(model, Path(folder), source or f"checkpoint {folder}", training)


def load_bundled(device: torch.device) -> LoadedModel:
    return load_folder(BUNDLED_MODEL_DIR, device, source="bundled default weights")


def download_mlflow_model(run_id: str, destination: str | Path | None = None) -> Path:
    """Download the model folder that training.train logged to run_id."""
    mlflow = configure_mlflow()
    try:
        mlflow.get_run(run_id)
    except Exception as error:  # MlflowException for unknown ids, others for outages
        raise CheckpointError(
            f"MLflow run {run_id!r} not found at tracking URI "
            f"{mlflow.get_tracking_uri()}: check the id in the MLflow UI, or set "
            f"MLFLOW_TRACKING_URI to the store the run was logged to ({error})"
        ) from error
    if destination is None:
        destination = tempfile.mkdtemp(prefix=f"ssvae-{run_id[:8]}-")
        # The files are read at load time and when the app draws bias plots,
        # so the folder lives until the process exits.
        atexit.register(shutil.rmtree, destination, ignore_errors=True)
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=MLFLOW_MODEL_PATH, dst_path=str(destination)
        )
    except Exception as error:
        raise CheckpointError(
            f"MLflow run {run_id} has no '{MLFLOW_MODEL_PATH}' artifact folder: was it "
            f"logged by training.train and did training finish? ({error})"
        ) from error
    return Path(path)


def load_mlflow_run(run_id: str, device: torch.device) -> LoadedModel:
    folder = download_mlflow_model(run_id)
    return load_folder(folder, device, source=f"MLflow run {run_id}")


def load_hub(spec: str, device: torch.device) -> LoadedModel:
    """Load "owner/name[@revision]" from the Hub, or its cache if HF_HUB_OFFLINE=1."""
    from ssvae.hub import download_model, parse_repo  # imports huggingface_hub

    repo_id, revision = parse_repo(spec)
    folder = download_model(repo_id, revision)
    # snapshot_download returns .../snapshots/<commit sha>.
    source = f"Hub repo {repo_id} @ {revision or 'main'} (commit {folder.name[:12]})"
    return load_folder(folder, device, source=source)
