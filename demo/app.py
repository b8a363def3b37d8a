"""Gradio demo: classify, reconstruct, walk the latent space and read bias plots.

python demo/app.py                                   # bundled default weights
python demo/app.py --checkpoint DIR                  # a folder from training.train
python demo/app.py --mlflow-run RUN_ID               # the model of an MLflow run
python demo/app.py --hub-repo OWNER/NAME[@REVISION]  # a model on the Hub

Which model is served: --checkpoint, --mlflow-run or --hub-repo (one at most),
else the SSVAE_HUB_REPO environment variable, else the bundled default. If the
requested model cannot be loaded, the app serves the bundled default with a notice.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# Telemetry off before the libraries are imported; users can still override.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# `python demo/app.py` puts demo/ first on sys.path; the library lives one level up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradio as gr  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from demo.handlers import DemoHandlers, UploadImage  # noqa: E402
from ssvae.attributes import MIN_ATTRIBUTE_FACES  # noqa: E402
from ssvae.checkpoint import CheckpointError  # noqa: E402
from ssvae.device import pick_device  # noqa: E402
from ssvae.hub import HubError  # noqa: E402
from ssvae.sources import (  # noqa: E402
    LoadedModel,
    load_bundled,
    load_folder,
    load_hub,
    load_mlflow_run,
)

try:  # Hugging Face Spaces with ZeroGPU: request a GPU for each model call.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(function):
        return function


logger = logging.getLogger("demo")
KIND_NAMES = {"ssvae": "SS-VAE", "cnn": "CNN"}


def describe(loaded: LoadedModel) -> str:
    config = loaded.model.config
    metrics = loaded.training.get("metrics", {})
    accuracy = metrics.get("val_accuracy")
    parts = [
        f"Serving **{loaded.source}**",
        f"{KIND_NAMES[config.kind]}, latent dim {config.latent_dim}, "
        f"{config.image_size}x{config.image_size} input",
        f"device `{next(loaded.model.parameters()).device}`",
    ]
    if accuracy is not None:
        parts.append(f"validation accuracy {accuracy:.2%}")
    return " · ".join(parts)


def build_app(loaded: LoadedModel, notice: str | None = None) -> gr.Blocks:
    handlers = DemoHandlers(loaded)
    with gr.Blocks(title="ssvae-bias demo") as app:
        gr.Markdown("# ssvae-bias: SS-VAE face detector")
        gr.Markdown(describe(loaded))
        if notice:
            gr.Markdown(f"**Notice:** {notice}")
        with gr.Tab("Classify"):
            with gr.Row():
                classify_input = UploadImage(type="filepath", label="Image")
                with gr.Column():
                    classify_output = gr.Label(num_top_classes=2, label="Prediction")
                    classify_typicality = gr.Markdown()
            classify_button = gr.Button("Classify", variant="primary")
            classify_button.click(
                gpu(handlers.classify),
                classify_input,
                classify_output,
                api_name="classify",
            ).then(
                gpu(handlers.typicality),
                classify_input,
                classify_typicality,
                api_name="typicality",
            )
        with gr.Tab("Reconstruct"):
            with gr.Row():
                reconstruct_input = UploadImage(type="filepath", label="Image")
                model_input = gr.Image(label="Input as the model sees it", format="png")
                reconstruction = gr.Image(label="Reconstruction", format="png")
            reconstruct_summary = gr.Markdown()
            reconstruct_button = gr.Button("Reconstruct", variant="primary")
            reconstruct_button.click(
                gpu(handlers.reconstruct),
                reconstruct_input,
                [model_input, reconstruction, reconstruct_summary],
                api_name="reconstruct",
            )
        if handlers.predictor.is_vae:
            _latent_walk_tab(handlers)
            _bias_tab(handlers)
    return app


def _latent_walk_tab(handlers: DemoHandlers) -> None:
    with gr.Tab("Latent walk"):
        gr.Markdown(
            "Decode a baseline latent while one dim moves between two percentiles "
            "of the reference faces."
        )
        with gr.Row():
            dim = gr.Dropdown(handlers.dim_choices(), value="0", label="Latent dim")
            steps = gr.Slider(2, 60, value=30, step=1, label="Steps")
            low = gr.Slider(0, 50, value=5, step=1, label="From percentile")
            high = gr.Slider(50, 100, value=95, step=1, label="To percentile")
        with gr.Row():
            baseline = gr.Radio(
                ["reference mean", "uploaded image"],
                value="reference mean",
                label="Baseline latent",
            )
            upload = gr.Image(
                type="filepath", label="Image (for the uploaded baseline)"
            )
        walk_button = gr.Button("Walk", variant="primary")
        gallery = gr.Gallery(label="Decoded images", columns=10, height="auto")
        walk_button.click(
            gpu(handlers.latent_walk),
            [dim, steps, low, high, baseline, upload],
            gallery,
            api_name="latent_walk",
        )


def _bias_tab(handlers: DemoHandlers) -> None:
    with gr.Tab("Bias"):
        gr.Markdown(handlers.reference_description())
        report_button = gr.Button("Show bias report", variant="primary")
        histograms = gr.Plot(label="Latent means of the reference faces")
        curve = gr.Plot(label="Relative accuracy vs latent position")
        lowest = gr.Gallery(label="Lowest-loss faces", columns=10, height="auto")
        highest = gr.Gallery(label="Highest-loss faces", columns=10, height="auto")
        rarest = gr.Gallery(label="Lowest-density faces", columns=10, height="auto")
        gr.Markdown(
            "High loss marks faces the model finds hard (uncertainty), which is not "
            "the same as bias. Low latent density marks faces that are rare among "
            "the reference faces. In the attribute check, `_ci_low` and `_ci_high` "
            "bound each AUROC's 95 % interval, and an attribute with fewer than "
            f"{MIN_ATTRIBUTE_FACES} reference faces with or without it is not ranked."
        )
        attributes = gr.Dataframe(label="Attribute check", wrap=True)

        def report():
            plt.close("all")  # figures of earlier reports
            return handlers.bias_report()

        report_button.click(
            report,
            None,
            [histograms, curve, lowest, highest, rarest, attributes],
            api_name="bias_report",
        )


def default_host() -> str:
    """Return GRADIO_SERVER_NAME if set, 0.0.0.0 in a Space, else 127.0.0.1."""
    if os.environ.get("GRADIO_SERVER_NAME"):
        return os.environ["GRADIO_SERVER_NAME"]
    return "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--checkpoint", type=Path, help="model folder (config.json + model.safetensors)"
    )
    source.add_argument(
        "--mlflow-run", help="MLflow run id whose 'model' artifact to serve"
    )
    source.add_argument(
        "--hub-repo",
        default=os.environ.get("SSVAE_HUB_REPO") or None,
        help="Hub model repo OWNER/NAME[@REVISION] (default: $SSVAE_HUB_REPO)",
    )
    parser.add_argument(
        "--host",
        default=default_host(),
        help="address to bind (default: %(default)s; 0.0.0.0 inside a Space)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        help="default: %(default)s",
    )
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda or auto (default: %(default)s)"
    )
    return parser.parse_args(argv)


def load_model(args: argparse.Namespace) -> tuple[LoadedModel, str | None]:
    """Load the requested model; on failure serve the bundled weights with a notice."""
    device = pick_device(args.device)
    try:
        if args.checkpoint:
            return load_folder(args.checkpoint, device), None
        if args.mlflow_run:
            return load_mlflow_run(args.mlflow_run, device), None
        if args.hub_repo:
            return load_hub(args.hub_repo, device), None
    except (CheckpointError, HubError) as error:
        logger.error("could not load the requested model: %s", error)
        notice = (
            f"the requested model could not be loaded ({error}); serving the "
            "bundled default weights instead."
        )
        return load_bundled(device), notice
    return load_bundled(device), None


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        loaded, notice = load_model(args)
    except ValueError as error:  # an invalid --device
        sys.exit(f"error: {error}")
    logger.info("serving %s", loaded.source)
    build_app(loaded, notice).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
