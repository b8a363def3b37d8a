"""MLflow set-up shared by the CLIs and the demo."""

from __future__ import annotations

import os
from pathlib import Path

# The default store: SQLite in the project's mlruns/ folder. MLflow 3.17 refuses
# to start its plain folder store (maintenance mode), so SQLite it is.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STORE = PROJECT_ROOT / "mlruns"
DEFAULT_TRACKING_URI = f"sqlite:///{DEFAULT_STORE / 'mlflow.db'}"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def tracking_uri() -> str:
    """Return MLFLOW_TRACKING_URI when set, else the project's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def configure_mlflow():
    """Point mlflow at tracking_uri() and return the mlflow module."""
    import mlflow

    uri = tracking_uri()
    if uri == DEFAULT_TRACKING_URI:
        DEFAULT_STORE.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return mlflow


def ensure_experiment(mlflow, name: str) -> str:
    """Return the id of experiment `name`, creating it if needed.

    With a SQLite store, artifacts go to an `artifacts/` folder beside the
    database file (mlruns/artifacts by default), so the store is one folder.
    A tracking server picks its own artifact location.
    """
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        location = (database.resolve().parent / "artifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)
