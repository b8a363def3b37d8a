"""Publishing to and loading from the Hub, against the local Hub test double."""

import os
import shutil
import subprocess
import sys

import mlflow
import pytest
import torch
from gradio_client import Client, handle_file
from huggingface_hub import HfApi, ModelCard

from demo.app import load_model, parse_args
from ssvae.checkpoint import CheckpointError, load_checkpoint
from ssvae.data import FlatImageDataset
from ssvae.hub import HubError, download_model, parse_repo, push_folder
from ssvae.sources import BUNDLED_MODEL_DIR, load_hub
from tests.conftest import HF_HOME, PROJECT_ROOT
from tests.demo_process import run_demo
from tests.hub_double import find_free_port
from training import push as push_cli
from training import train

CARD_SECTIONS = [
    "## Training command and data",
    "## Validation metrics",
    "## Bias findings",
    "## Intended use",
    "## Limitations",
]


@pytest.fixture(scope="module")
def pushed(hub_server, tmp_path_factory):
    """The bundled model pushed to owner/pushed; returns (local folder, result)."""
    folder = tmp_path_factory.mktemp("bundled") / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, folder)
    return folder, push_folder(folder, "owner/pushed")


def _images(sample_root):
    dataset = FlatImageDataset(sample_root / "test")
    return torch.stack([dataset[i]["image"] for i in (0, 1, 1998, 1999)])


def test_round_trip_weights_are_bit_identical(pushed):
    folder, result = pushed
    downloaded = download_model("owner/pushed")
    original = (folder / "model.safetensors").read_bytes()
    assert (downloaded / "model.safetensors").read_bytes() == original
    assert downloaded.name == result.commit


def test_round_trip_outputs_are_identical(pushed, sample_root):
    folder, _ = pushed
    local, _ = load_checkpoint(folder)
    remote = load_hub("owner/pushed", torch.device("cpu")).model
    images = _images(sample_root)
    with torch.no_grad():
        first, second = local(images), remote(images)
    assert torch.equal(first.face_logit, second.face_logit)
    assert torch.equal(first.reconstruction, second.reconstruction)


def test_pushed_files_include_reference_and_plots(pushed):
    files = set(HfApi().list_repo_files("owner/pushed"))
    expected = {"config.json", "model.safetensors", "reference.npz", "README.md"}
    assert expected <= files
    assert "plots/latent_histograms.png" in files
    assert "plots/attribute_auroc.png" in files


def test_card_parses_with_metadata_and_sections(pushed):
    card = ModelCard.load(download_model("owner/pushed") / "README.md")
    assert card.data.license == "mit"
    assert card.data.library_name == "pytorch"
    assert "face-detection" in card.data.tags
    assert card.data.metrics == ["accuracy"]
    for section in CARD_SECTIONS:
        assert section in card.text
    assert "python -m training.train" in card.text
    assert "![latent histograms](plots/latent_histograms.png)" in card.text


def test_push_to_branch_and_tag_mlflow_run(hub_server, mlflow_store, tmp_path):
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(BUNDLED_MODEL_DIR), artifact_path="model")
    push_cli.main(
        ["--run-id", run.info.run_id, "--repo-id", "owner/branched",
         "--revision", "retrain", "--commit-message", "retrained"]
    )  # fmt: skip
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    head = HfApi().model_info("owner/branched", revision="retrain").sha
    assert tags["hub_repo_id"] == "owner/branched"
    assert tags["hub_branch"] == "retrain"
    assert tags["hub_revision"] == head
    loaded = load_hub("owner/branched@retrain", torch.device("cpu"))
    assert "owner/branched @ retrain" in loaded.source


def test_wrong_token_gives_documented_message(hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(HubError, match=r"not authorised \(HTTP 401\).*HF_TOKEN"):
        push_folder(BUNDLED_MODEL_DIR, "owner/denied")


def test_missing_repo_names_repo_and_fix(hub_server):
    with pytest.raises(HubError, match="owner/absent@main: repository not found"):
        download_model("owner/absent")


def test_pickle_weights_are_refused(hub_server, tmp_path):
    model, _ = load_checkpoint(BUNDLED_MODEL_DIR)
    shutil.copy(BUNDLED_MODEL_DIR / "config.json", tmp_path / "config.json")
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    api = HfApi()
    api.create_repo("owner/pickled")
    api.upload_folder(repo_id="owner/pickled", folder_path=tmp_path)
    with pytest.raises(HubError, match="never pickle files"):
        download_model("owner/pickled")


def test_corrupt_weights_fall_back_to_bundled(hub_server, tmp_path):
    shutil.copy(BUNDLED_MODEL_DIR / "config.json", tmp_path / "config.json")
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    api = HfApi()
    api.create_repo("owner/corrupt")
    api.upload_folder(repo_id="owner/corrupt", folder_path=tmp_path)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_hub("owner/corrupt", torch.device("cpu"))
    loaded, notice = load_model(parse_args(["--hub-repo", "owner/corrupt"]))
    assert loaded.source == "bundled default weights"
    assert "corrupt" in notice


def test_invalid_repo_id_is_rejected():
    with pytest.raises(HubError, match="expected OWNER/NAME"):
        parse_repo("just-a-name")


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_offline_mode_loads_from_cache(pushed):
    download_model("owner/pushed")  # fills the cache in HF_HOME
    code = (
        "import torch; from ssvae.sources import load_hub\n"
        "print(load_hub('owner/pushed', torch.device('cpu')).source)"
    )
    result = _run(code, HF_HUB_OFFLINE="1", HF_HOME=str(HF_HOME))
    assert result.returncode == 0, result.stderr
    assert "Hub repo owner/pushed @ main" in result.stdout


def test_offline_mode_without_cache_explains(pushed):
    code = "from ssvae.hub import download_model; download_model('owner/never-pulled')"
    result = _run(code, HF_HUB_OFFLINE="1")
    assert result.returncode != 0
    assert "HF_HUB_OFFLINE=1" in result.stderr


def test_stopped_server_gives_documented_messages(tmp_path):
    closed = f"http://127.0.0.1:{find_free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "training.push", "--checkpoint", str(BUNDLED_MODEL_DIR),
         "--repo-id", "owner/offline"],
        cwd=PROJECT_ROOT, env={**os.environ, "HF_ENDPOINT": closed},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "could not be reached" in result.stderr
    assert closed in result.stderr
    code = (
        "from demo.app import load_model, parse_args\n"
        "loaded, notice = load_model(parse_args(['--hub-repo', 'owner/offline']))\n"
        "print(loaded.source); print(notice)"
    )
    result = _run(code, HF_ENDPOINT=closed, HF_HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "bundled default weights" in result.stdout
    assert "owner/offline" in result.stdout


def test_app_serves_pushed_model_over_http(pushed, test_faces):
    with run_demo("--hub-repo", "owner/pushed") as server:
        client = Client(server.url, verbose=False)
        result = client.predict(handle_file(str(test_faces[0])), api_name="/classify")
        assert result["label"] == "face"
        page = client.view_api(print_info=False, return_format="dict")
        assert "/latent_walk" in page["named_endpoints"]
    assert "serving Hub repo owner/pushed @ main" in server.output


def test_push_repo_id_with_revision_is_rejected():
    with pytest.raises(HubError, match="--revision"):
        push_folder(BUNDLED_MODEL_DIR, "owner/name@dev")


def test_push_repo_id_with_invalid_characters_is_rejected():
    with pytest.raises(HubError, match="invalid Hub repo id 'own er/na!me'"):
        push_folder(BUNDLED_MODEL_DIR, "own er/na!me")


def test_train_pushes_to_hub(hub_server, sample_root, tmp_path, mlflow_store):
    argv = [
        "--model", "cnn", "--data", str(sample_root), "--epochs", "1",
        "--limit", "64", "--val-limit", "32", "--workers", "0", "--device", "cpu",
        "--output", str(tmp_path / "model"), "--push-to-hub", "owner/from-train",
    ]  # fmt: skip
    args = train.parse_args(argv)
    args.argv = argv
    run_id = train.run(args)
    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    assert tags["hub_repo_id"] == "owner/from-train"
    assert tags["hub_revision"] == HfApi().model_info("owner/from-train").sha
    downloaded = download_model("owner/from-train")
    local = (tmp_path / "model" / "model.safetensors").read_bytes()
    assert (downloaded / "model.safetensors").read_bytes() == local
