"""Bias analysis of a trained SS-VAE over a folder of faces, logged to MLflow.

The analysis writes reference.npz into the model folder and refreshes its
model card README.md, so the app can draw the bias plots without the dataset.

Examples:
    python -m training.analyze --run-id RUN_ID --data DATA/test \\
        --attributes DATA/celeba_attributes.csv
    python -m training.analyze --checkpoint MODEL_DIR --data FACE_DIR --output DIR
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from ssvae.attributes import check_attribute_rows
from ssvae.card import write_card
from ssvae.checkpoint import CARD_FILE, CheckpointError, load_checkpoint
from ssvae.data import FlatImageDataset, inference_workers, load_attributes
from ssvae.device import pick_device
from ssvae.reference import REFERENCE_FILE
from ssvae.report import AnalysisOutput, analyze_faces
from ssvae.sources import MLFLOW_MODEL_PATH, download_mlflow_model
from ssvae.tracking import configure_mlflow, ensure_experiment

logger = logging.getLogger("training.analyze")
ANALYSIS_ARTIFACT_PATH = "analysis"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text}: must be 1 or more")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text}: must be 0 or more")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--run-id",
        help="MLflow run whose 'model' artifact to analyse; results are logged to it",
    )
    source.add_argument(
        "--checkpoint",
        type=Path,
        help="model folder (updated in place); results go to a new MLflow run",
    )
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="flat image folder; only faces (names starting with a digit) are used",
    )
    parser.add_argument(
        "--attributes",
        type=Path,
        default=None,
        help="attribute table (CSV with image_id, or CelebA list_attr_celeba.txt)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="also keep the figures and tables in this folder (default: they are "
        "only logged to MLflow, under analysis/)",
    )
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="analyse at most N faces"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=128, help="default: %(default)s"
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=inference_workers(),
        help="data loader worker processes (default on this machine: %(default)s)",
    )
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda or auto (default: %(default)s)"
    )
    parser.add_argument(
        "--experiment",
        default="ssvae-bias",
        help="MLflow experiment for --checkpoint runs (default: %(default)s)",
    )
    return parser.parse_args(argv)


def check_inputs(data: Path, attributes: Path | None) -> None:
    """Raise before any MLflow run is opened if faces or attribute rows are missing."""
    faces = FlatImageDataset(data, faces_only=True)  # lists the folder only
    if attributes is not None:
        names = [path.name for path in faces.files]
        check_attribute_rows(load_attributes(attributes), names, attributes)


def log_analysis(
    mlflow, folder: Path, model_folder: Path, output: AnalysisOutput
) -> None:
    """Log the analysis files, reference file and card to the active MLflow run."""
    mlflow.log_artifacts(str(folder), artifact_path=ANALYSIS_ARTIFACT_PATH)
    for name in (REFERENCE_FILE, CARD_FILE):
        mlflow.log_artifact(str(model_folder / name), artifact_path=MLFLOW_MODEL_PATH)
    table = output.reference.scores.table
    mlflow.log_metrics({
        "analysis_faces": len(table),
        "analysis_mean_total_loss": float(table["total_loss"].mean()),
        "analysis_detection_rate": float((table["face_probability"] > 0.5).mean()),
    })  # fmt: skip


def analyze_into(
    mlflow,
    model,
    model_folder: Path,
    data: Path,
    attributes: Path | None = None,
    *,
    batch_size: int = 128,
    workers: int = 0,
    limit: int | None = None,
    files: list[Path] | None = None,
    keep: Path | None = None,
) -> AnalysisOutput:
    """Analyse, save the reference into model_folder, log all to the active run.

    keep, if given, is a folder that receives a copy of the figures and tables.
    """
    with tempfile.TemporaryDirectory(prefix="ssvae-analysis-") as folder:
        output = analyze_faces(
            model,
            data,
            folder,
            attributes,
            batch_size=batch_size,
            num_workers=workers,
            limit=limit,
            files=files,
        )
        output.reference.save(model_folder)
        write_card(model_folder)
        log_analysis(mlflow, Path(folder), model_folder, output)
        if keep is not None:
            # File by file: copytree would give keep the temporary folder's
            # owner-only permissions.
            keep.mkdir(parents=True, exist_ok=True)
            for path in Path(folder).iterdir():
                shutil.copy2(path, keep / path.name)
    return output


def run(args: argparse.Namespace) -> str:
    device = pick_device(args.device)
    check_inputs(args.data, args.attributes)
    mlflow = configure_mlflow()
    options = {
        "batch_size": args.batch_size,
        "workers": args.workers,
        "limit": args.limit,
        "keep": args.output,
    }
    if args.run_id:
        model_folder = download_mlflow_model(args.run_id)
        model, _ = load_checkpoint(model_folder, device)
        with mlflow.start_run(run_id=args.run_id) as active:
            analyze_into(
                mlflow, model, model_folder, args.data, args.attributes, **options
            )
            return active.info.run_id
    model, training = load_checkpoint(args.checkpoint, device)
    experiment_id = ensure_experiment(mlflow, args.experiment)
    run_name = f"analysis {args.checkpoint.name}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as active:
        mlflow.set_tags({
            "analysis_of_checkpoint": str(args.checkpoint.resolve()),
            "source_run_id": training.get("run_id", ""),
        })  # fmt: skip
        mlflow.log_params({
            "data": str(args.data),
            "attributes": str(args.attributes),
            "limit": args.limit,
        })  # fmt: skip
        analyze_into(
            mlflow, model, args.checkpoint, args.data, args.attributes, **options
        )
        mlflow.log_artifacts(str(args.checkpoint), artifact_path=MLFLOW_MODEL_PATH)
        return active.info.run_id


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        run_id = run(args)
    except (FileNotFoundError, ValueError, CheckpointError) as error:
        sys.exit(f"error: {error}")
    if args.output is not None:
        print(f"analysis files: {args.output}")
    print(f"MLflow run id: {run_id}")


if __name__ == "__main__":
    main()
