"""Shared fixtures: paths to the real sample data and a throwaway MLflow store."""

from __future__ import annotations

import os
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.hub_double import find_free_port  # noqa: E402

# Telemetry off before any test imports gradio, mlflow or huggingface_hub.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
# huggingface_hub reads these at import time: every Hub call of the tests goes
# to the local test double, and its cache and token live in a temp folder.
HUB_PORT = find_free_port()
HUB_URL = f"http://127.0.0.1:{HUB_PORT}"
HUB_TOKEN = "hf_test_double_token"
HF_HOME = Path(tempfile.mkdtemp(prefix="ssvae-tests-hf-home-"))
os.environ["HF_ENDPOINT"] = HUB_URL
os.environ["HF_HOME"] = str(HF_HOME)
os.environ["HF_XET_CACHE"] = str(HF_HOME / "xet")
os.environ["HF_TOKEN"] = HUB_TOKEN
os.environ.pop("HF_HUB_OFFLINE", None)

import pytest  # noqa: E402

from tests.hub_double import run_hub_double  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SAMPLE_ROOT = SHARED_DATA / "ssvae-sample"
GROUP_FACES = SHARED_DATA / "group-faces"


@pytest.fixture(scope="session")
def sample_root() -> Path:
    if not SAMPLE_ROOT.is_dir():
        pytest.fail(
            f"sample data not found at {SAMPLE_ROOT}; tests read ../shared/data"
        )
    return SAMPLE_ROOT


@pytest.fixture(scope="session")
def test_faces(sample_root: Path) -> list[Path]:
    return sorted(sample_root.glob("test/[0-9]*.jpg"))


@pytest.fixture(scope="session")
def test_non_faces(sample_root: Path) -> list[Path]:
    return sorted(sample_root.glob("test/n*.JPEG"))


@pytest.fixture()
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point MLflow at a fresh SQLite store in tmp_path; return its tracking URI."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)  # the module keeps the URI an earlier test set
    return uri


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory) -> str:
    """The Hub test double on HUB_PORT (the HF_ENDPOINT of this test session)."""
    storage = tmp_path_factory.mktemp("hub-double")
    with run_hub_double(storage, {HUB_TOKEN}, port=HUB_PORT) as url:
        yield url
