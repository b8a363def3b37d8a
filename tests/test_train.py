"""A short real training run against a real MLflow store in a temp folder."""

import shutil

import mlflow
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from demo.app import load_model, parse_args
from ssvae.checkpoint import load_checkpoint
from ssvae.data import FlatImageDataset
from ssvae.device import pick_device
from ssvae.sources import BUNDLED_MODEL_DIR, download_mlflow_model
from training import analyze, train

STEP_METRICS = {"train_loss", "train_classification_loss", "train_vae_loss"}
EPOCH_METRICS = {
    "epoch_train_loss",
    "epoch_train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_classification_loss",
    "val_vae_loss",
}


def _train(sample_root, tmp_path, name, model="ssvae", epochs=2, *extra):
    argv = [
        "--model", model,
        "--data", str(sample_root),
        "--epochs", str(epochs),
        "--limit", "256",
        "--val-limit", "128",
        "--batch-size", "64",
        "--log-every", "1",
        "--workers", "0",
        "--device", "cpu",
        "--output", str(tmp_path / name),
        *extra,
    ]  # fmt: skip
    args = train.parse_args(argv)
    args.argv = argv
    return train.run(args)


@pytest.fixture(scope="module")
def trained(sample_root, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("train")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    run_id = _train(sample_root, tmp_path, "model")
    yield run_id, tmp_path, uri
    patch.undo()


def test_run_logs_params(trained):
    run_id, _, uri = trained
    params = MlflowClient(uri).get_run(run_id).data.params
    assert params["model"] == "ssvae"
    assert params["learning_rate"] == "0.0006"
    assert params["batch_size"] == "64"
    assert params["train_images"] == "256"
    assert params["train_faces"] == "128"
    assert params["val_images"] == "128"
    assert params["latent_dim"] == "32"


def test_run_logs_step_and_epoch_metrics(trained):
    run_id, _, uri = trained
    client = MlflowClient(uri)
    metrics = client.get_run(run_id).data.metrics
    assert STEP_METRICS | EPOCH_METRICS <= set(metrics)
    steps = [m.step for m in client.get_metric_history(run_id, "train_loss")]
    assert steps == list(range(1, 9))  # 2 epochs x 4 batches of 64
    epochs = [m.step for m in client.get_metric_history(run_id, "val_accuracy")]
    assert epochs == [1, 2]
    assert 0.0 <= metrics["val_accuracy"] <= 1.0


def test_run_logs_histograms_and_checkpoint(trained):
    run_id, _, uri = trained
    client = MlflowClient(uri)
    figures = [a.path for a in client.list_artifacts(run_id, "latent_histograms")]
    assert figures == [
        "latent_histograms/epoch_001.png",
        "latent_histograms/epoch_002.png",
    ]
    model_files = {a.path for a in client.list_artifacts(run_id, "model")}
    assert {
        "model/config.json",
        "model/model.safetensors",
        "model/README.md",
    } <= model_files


def test_logged_checkpoint_reloads_identically(trained, sample_root):
    run_id, tmp_path, _ = trained
    downloaded = download_mlflow_model(run_id, tmp_path / "download")
    local, _ = load_checkpoint(tmp_path / "model")
    logged, training = load_checkpoint(downloaded)
    images = torch.stack(
        [FlatImageDataset(sample_root / "test")[i]["image"] for i in (0, 1999)]
    )
    with torch.no_grad():
        first, second = local(images), logged(images)
    assert torch.equal(first.face_logit, second.face_logit)
    assert torch.equal(first.reconstruction, second.reconstruction)
    assert training["run_id"] == run_id
    card = (downloaded / "README.md").read_text()
    assert "python -m training.train --model ssvae" in card
    assert "val_accuracy" in card


def _metrics_without_speed(client, run_id):
    metrics = dict(client.get_run(run_id).data.metrics)
    metrics.pop("train_images_per_second")
    return metrics


def test_same_seed_gives_same_metrics(sample_root, tmp_path, mlflow_store):
    first = _train(sample_root, tmp_path, "a", "ssvae", 1, "--no-analysis")
    second = _train(sample_root, tmp_path, "b", "ssvae", 1, "--no-analysis")
    client = MlflowClient(mlflow_store)
    first_metrics = _metrics_without_speed(client, first)
    assert first_metrics == _metrics_without_speed(client, second)
    assert len(first_metrics) >= len(STEP_METRICS | EPOCH_METRICS)


def test_cnn_and_ssvae_share_metric_names(trained, sample_root, tmp_path):
    run_id, _, uri = trained
    cnn_run = _train(sample_root, tmp_path, "cnn", model="cnn", epochs=1)
    client = MlflowClient(uri)
    assert set(client.get_run(cnn_run).data.metrics) >= STEP_METRICS | EPOCH_METRICS


ANALYSIS_FILES = {
    "face_scores.csv",
    "lowest_loss_faces.png",
    "highest_loss_faces.png",
    "lowest_density_faces.png",
    "latent_histograms.png",
    "latent_walk.png",
    "accuracy_curve.png",
}


def test_training_ends_with_analysis(trained):
    run_id, tmp_path, uri = trained
    client = MlflowClient(uri)
    logged = {a.path.split("/")[-1] for a in client.list_artifacts(run_id, "analysis")}
    assert ANALYSIS_FILES <= logged
    model_files = {a.path for a in client.list_artifacts(run_id, "model")}
    assert "model/reference.npz" in model_files
    assert (tmp_path / "model" / "reference.npz").is_file()


def test_analyze_cli_logs_attribute_check(trained, sample_root):
    run_id, tmp_path, uri = trained
    analyze.main(
        ["--run-id", run_id, "--data", str(sample_root / "test"),
         "--attributes", str(sample_root / "celeba_attributes.csv"),
         "--limit", "80", "--workers", "0", "--device", "cpu",
         "--output", str(tmp_path / "kept")]
    )  # fmt: skip
    client = MlflowClient(uri)
    folder = client.download_artifacts(run_id, "analysis", str(tmp_path / "logged"))
    table = pd.read_csv(f"{folder}/attribute_table.csv")
    assert len(table) == 40
    ranked = table[["faces_with", "faces_without"]].min(axis=1) >= 10
    assert ranked.sum() > 10
    aurocs = table[["auroc_low_density", "auroc_high_loss"]]
    assert not aurocs[ranked].isna().any().any()
    assert aurocs[~ranked].isna().all().all()
    (tmp_path / "fresh").mkdir()
    output_folder = tmp_path / "kept"
    assert (output_folder / "attribute_table.csv").is_file()
    assert output_folder.stat().st_mode == (tmp_path / "fresh").stat().st_mode
    scores = pd.read_csv(f"{folder}/face_scores.csv")
    assert len(scores) == 80
    assert not scores.isna().any().any()
    assert client.get_run(run_id).data.metrics["analysis_faces"] == 80


def test_unreadable_images_are_skipped_and_counted(
    sample_root, tmp_path, mlflow_store, test_faces, test_non_faces
):
    for split, count in (("train", 40), ("test", 10)):
        folder = tmp_path / "data" / split
        folder.mkdir(parents=True)
        for path in test_faces[:count] + test_non_faces[:count]:
            shutil.copy(path, folder / path.name)
    (tmp_path / "data" / "train" / "999999.jpg").write_bytes(b"\xff\xd8\xff broken")
    run_id = _train(tmp_path / "data", tmp_path, "m", "cnn", 1, "--no-analysis")
    metrics = MlflowClient(mlflow_store).get_run(run_id).data.metrics
    assert metrics["train_skipped_images"] == 1
    assert metrics["val_skipped_images"] == 0
    assert metrics["epoch_train_accuracy"] >= 0.0


def test_demo_serves_mlflow_run(trained):
    run_id, _, _ = trained
    loaded, notice = load_model(parse_args(["--mlflow-run", run_id, "--device", "cpu"]))
    assert notice is None
    assert loaded.source == f"MLflow run {run_id}"
    assert loaded.training["run_id"] == run_id


def test_zero_epochs_is_rejected(sample_root):
    with pytest.raises(SystemExit):
        train.parse_args(["--data", str(sample_root), "--epochs", "0"])


def test_negative_workers_are_rejected(sample_root, capsys):
    with pytest.raises(SystemExit):
        analyze.parse_args(
            ["--checkpoint", "m", "--data", str(sample_root), "--workers", "-1"]
        )
    assert "argument --workers: invalid value -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.parse_args(["--data", str(sample_root), "--workers", "-1"])


def test_missing_attributes_fail_before_training(sample_root, tmp_path, mlflow_store):
    with pytest.raises(SystemExit, match="attribute table .*missing.csv not found"):
        train.main(
            ["--data", str(sample_root), "--attributes", str(tmp_path / "missing.csv")]
        )
    assert MlflowClient(mlflow_store).search_experiments()[0].name == "Default"
    assert not mlflow.search_runs(search_all_experiments=True).shape[0]


def test_analyze_bad_data_opens_no_run(tmp_path, mlflow_store):
    with pytest.raises(SystemExit, match="does not exist"):
        analyze.main(
            ["--checkpoint", str(BUNDLED_MODEL_DIR), "--data", str(tmp_path / "no")]
        )
    assert not mlflow.search_runs(search_all_experiments=True).shape[0]


def test_analyze_unmatched_attributes_open_no_run(sample_root, tmp_path, mlflow_store):
    table = tmp_path / "attributes.csv"
    table.write_text("image_id,Smiling\nphoto_1.png,1\nphoto_2.png,0\n")
    with pytest.raises(SystemExit, match="none of the 1000 faces has a row"):
        analyze.main(
            ["--checkpoint", str(BUNDLED_MODEL_DIR),
             "--data", str(sample_root / "test"), "--attributes", str(table)]
        )  # fmt: skip
    assert not mlflow.search_runs(search_all_experiments=True).shape[0]


def test_invalid_device_is_reported():
    with pytest.raises(ValueError, match="invalid device 'foo'"):
        pick_device("foo")
