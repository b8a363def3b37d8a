"""The demo's handlers and HTTP API, on the bundled weights and real images."""

import argparse
import socket

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

from demo.app import build_app, load_model, parse_args
from demo.handlers import FACE, NOT_FACE, DemoHandlers
from ssvae.sources import load_bundled


@pytest.fixture(scope="module")
def handlers():
    return DemoHandlers(load_bundled(torch.device("cpu")))


def test_classify_has_exactly_two_classes(handlers, test_faces):
    result = handlers.classify(str(test_faces[0]))
    assert set(result) == {FACE, NOT_FACE}
    assert result[FACE] + result[NOT_FACE] == pytest.approx(1.0)


def test_classify_unseen_faces_and_non_faces(handlers, test_faces, test_non_faces):
    faces = [handlers.classify(str(p))[FACE] > 0.5 for p in test_faces[::20]]
    others = [handlers.classify(str(p))[FACE] < 0.5 for p in test_non_faces[::20]]
    assert np.mean(faces) >= 0.96
    assert np.mean(others) >= 0.96


def test_group_faces_are_mostly_detected(handlers, sample_root):
    # Tightly cropped RGBA PNGs of 59 to 644 px, unlike the training faces.
    paths = sorted((sample_root.parent / "group-faces").glob("*/*.png"))
    assert len(paths) == 20
    detected = [handlers.classify(str(path))[FACE] > 0.5 for path in paths]
    assert sum(detected) >= 15


def test_reconstruct_shows_model_input_and_reconstruction(handlers, test_faces):
    model_input, reconstruction, summary = handlers.reconstruct(str(test_faces[1]))
    assert model_input.shape == (128, 128, 3)
    assert reconstruction.shape == (128, 128, 3)
    assert reconstruction.dtype == np.uint8
    assert "Reconstruction loss" in summary
    assert "percentile" in summary


def test_broken_upload_gives_message(handlers, tmp_path):
    broken = tmp_path / "photo.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(gr.Error, match="photo.jpg"):
        handlers.classify(str(broken))


def test_missing_upload_gives_message(handlers):
    with pytest.raises(gr.Error, match="No image uploaded"):
        handlers.reconstruct(None)


def test_typicality_places_upload(handlers, test_faces):
    text = handlers.typicality(str(test_faces[2]))
    assert "reference faces" in text
    assert handlers.typicality(None) == ""


def test_latent_walk_returns_steps_images(handlers):
    gallery = handlers.latent_walk(5, 12, 5, 95, "reference mean", None)
    assert len(gallery) == 12
    assert gallery[0][0].shape == (128, 128, 3)
    assert gallery[0][1].startswith("z[5] = ")


def test_latent_walk_from_upload(handlers, test_faces):
    gallery = handlers.latent_walk(0, 4, 10, 90, "uploaded image", str(test_faces[3]))
    assert len(gallery) == 4


def test_latent_walk_rejects_bad_range(handlers):
    with pytest.raises(gr.Error, match="percentile range"):
        handlers.latent_walk(0, 4, 60, 50, "reference mean", None)


def test_bias_report_outputs(handlers):
    histograms, curve, lowest, highest, rarest, attributes = handlers.bias_report()
    assert len(lowest) == 100
    assert len(highest) == 100
    assert len(rarest) == 100
    assert len(attributes) == 40
    assert not attributes.drop(columns=["top_dims"]).isna().any().any()
    assert attributes["auroc_low_density"].is_monotonic_decreasing


def test_dim_choices_carry_labels(handlers):
    choices = handlers.dim_choices()
    assert len(choices) == 32
    assert [value for _, value in choices] == [str(d) for d in range(32)]


def test_missing_checkpoint_falls_back_to_bundled(tmp_path):
    args = parse_args(["--checkpoint", str(tmp_path / "missing"), "--device", "cpu"])
    loaded, notice = load_model(args)
    assert loaded.source == "bundled default weights"
    assert "missing" in notice


def test_unknown_mlflow_run_falls_back(mlflow_store):
    args = argparse.Namespace(
        checkpoint=None, mlflow_run="0" * 32, hub_repo=None, device="cpu"
    )
    loaded, notice = load_model(args)
    assert loaded.source == "bundled default weights"
    assert "0" * 32 in notice


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_api_classify_and_reconstruct(test_faces, test_non_faces, tmp_path):
    app = build_app(load_bundled(torch.device("cpu")))
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        face = client.predict(handle_file(str(test_faces[0])), api_name="/classify")
        other = client.predict(
            handle_file(str(test_non_faces[0])), api_name="/classify"
        )
        assert face["label"] == FACE
        assert other["label"] == NOT_FACE
        assert {c["label"] for c in face["confidences"]} == {FACE, NOT_FACE}
        model_input, reconstruction, summary = client.predict(
            handle_file(str(test_faces[0])), api_name="/reconstruct"
        )
        assert "Reconstruction loss" in summary
        gallery = client.predict(
            "2", 4, 5, 95, "reference mean", None, api_name="/latent_walk"
        )
        assert len(gallery) == 4
        assert gallery[0]["caption"].startswith("z[2] = ")
        text_file = tmp_path / "notes.jpg"
        text_file.write_text("not an image")
        with pytest.raises(Exception, match="Could not read 'notes.jpg' as an image"):
            client.predict(handle_file(str(text_file)), api_name="/classify")
    finally:
        app.close()


def test_hub_repo_defaults_to_environment(monkeypatch):
    monkeypatch.setenv("SSVAE_HUB_REPO", "owner/from-env@v1")
    assert parse_args([]).hub_repo == "owner/from-env@v1"
    assert parse_args(["--checkpoint", "x"]).checkpoint.name == "x"


def test_space_binds_all_interfaces(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert parse_args([]).host == "127.0.0.1"
    monkeypatch.setenv("SPACE_ID", "owner/space")
    assert parse_args([]).host == "0.0.0.0"
