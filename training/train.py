"""Train the baseline CNN or the SS-VAE on a face / not-face dataset, tracked in MLflow.

Example:
    python -m training.train --model ssvae --data ../shared/data/ssvae-sample --epochs 1
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader

from ssvae.augment import ResolutionAndCrop
from ssvae.card import write_card
from ssvae.checkpoint import save_checkpoint
from ssvae.config import ModelConfig, TrainConfig
from ssvae.data import (
    FlatImageDataset,
    Preprocess,
    collate_skipping_invalid,
    is_face_name,
    split_folder,
)
from ssvae.device import pick_device
from ssvae.engine import EpochResult, evaluate, train_epoch
from ssvae.hub import HubError, parse_push_repo
from ssvae.models import build_model
from ssvae.plots import latent_histograms
from ssvae.sources import MLFLOW_MODEL_PATH
from ssvae.tracking import configure_mlflow, ensure_experiment
from training.analyze import (
    analyze_into,
    check_inputs,
    non_negative_int,
    positive_int,
)
from training.push import push

logger = logging.getLogger("training.train")


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"invalid probability {text}: use 0 to 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        choices=["cnn", "ssvae"],
        default="ssvae",
        help="model kind (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="dataset root holding train/ and test/ flat image folders",
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=1, help="default: %(default)s"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=128,
        help="images per batch (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="Adam learning rate (default: 1e-3 for cnn, 6e-4 for ssvae)",
    )
    parser.add_argument(
        "--latent-dim",
        type=positive_int,
        default=32,
        help="size of z (default: %(default)s)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=128,
        help="input side in pixels (default: %(default)s); the SS-VAE decoder is "
        "built for 128, so other sizes work with --model cnn only",
    )
    parser.add_argument(
        "--kl-weight",
        type=float,
        default=0.0005,
        help="weight of the KL term in the VAE loss (default: %(default)s)",
    )
    parser.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="constant learning rate, or cosine decay to 0 over all "
        "steps (default: %(default)s)",
    )
    parser.add_argument(
        "--augment",
        action="store_true",
        help="random zoom-in crops and random loss of resolution of training images, "
        "so sharpness and framing stop telling faces from non-faces",
    )
    parser.add_argument(
        "--augment-probability",
        type=probability,
        default=0.5,
        help="with --augment, the probability of a crop and, separately, of a "
        "resolution loss for each image (default: %(default)s)",
    )
    parser.add_argument(
        "--hflip",
        action="store_true",
        help="randomly flip training images horizontally",
    )
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=2,
        help="data loader worker processes (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N or auto = CUDA when available (default: %(default)s)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="use at most this many training images, class ratio kept (quick runs)",
    )
    parser.add_argument(
        "--val-limit",
        type=positive_int,
        default=None,
        help="use at most this many validation images from test/",
    )
    parser.add_argument(
        "--log-every",
        type=positive_int,
        default=10,
        help="log step metrics every N optimiser steps (default: %(default)s)",
    )
    parser.add_argument(
        "--no-analysis",
        action="store_true",
        help="skip the bias analysis of the validation faces after training",
    )
    parser.add_argument(
        "--attributes",
        type=Path,
        default=None,
        help="attribute table of the validation faces for the analysis "
        "(CSV with image_id, or CelebA list_attr_celeba.txt)",
    )
    parser.add_argument(
        "--push-to-hub",
        metavar="OWNER/NAME",
        default=None,
        help="after training, publish the model to this Hub repo "
        "(token from HF_TOKEN or `hf auth login`)",
    )
    parser.add_argument(
        "--experiment",
        default="ssvae-bias",
        help="MLflow experiment (default: %(default)s)",
    )
    parser.add_argument("--run-name", default=None, help="MLflow run name")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="model folder to write (default: checkpoints/<run id>)",
    )
    return parser.parse_args(argv)


def make_loader(
    dataset, config: TrainConfig, shuffle: bool, device: torch.device
) -> DataLoader:
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=config.num_workers,
        collate_fn=collate_skipping_invalid,
        pin_memory=device.type == "cuda",
        persistent_workers=config.num_workers > 0,
    )


def build_datasets(args: argparse.Namespace, preprocess: Preprocess):
    train_folder = split_folder(args.data, "train")
    val_folder = split_folder(args.data, "test")
    augment = None
    if args.augment:
        probability = args.augment_probability
        augment = ResolutionAndCrop(probability, blur_probability=probability)
    train = FlatImageDataset(
        train_folder, preprocess, hflip=args.hflip, augment=augment
    )
    train = train.subset(args.limit, seed=args.seed)
    train.require_both_classes()
    val = FlatImageDataset(val_folder, preprocess).subset(
        args.val_limit, seed=args.seed
    )
    return train, val


def log_epoch(
    mlflow, epoch: int, train: EpochResult, val: EpochResult, seconds: float
) -> None:
    metrics = {**train.metrics("epoch_train"), **val.metrics("val")}
    metrics["train_images_per_second"] = train.images / seconds
    metrics["train_skipped_images"] = len(train.skipped)
    metrics["val_skipped_images"] = len(val.skipped)
    mlflow.log_metrics(metrics, step=epoch)
    if val.z_means is not None and len(val.z_means):
        figure = latent_histograms(
            val.z_means, title=f"Latent means of the validation faces, epoch {epoch}"
        )
        mlflow.log_figure(figure, f"latent_histograms/epoch_{epoch:03d}.png")
        plt.close(figure)


def run_params(args, model, train_config, device, train_set, val_set) -> dict:
    """Return the MLflow params of a run: every setting and the data counts."""
    config = model.config
    return {
        "model": config.kind,
        "data": str(args.data),
        "epochs": train_config.epochs,
        "batch_size": train_config.batch_size,
        "learning_rate": train_config.resolved_learning_rate(config.kind),
        "latent_dim": config.latent_dim,
        "image_size": config.image_size,
        "kl_weight": train_config.kl_weight,
        "hflip": train_config.hflip,
        "augment": train_config.augment,
        "augment_probability": train_config.augment_probability,
        "lr_schedule": train_config.lr_schedule,
        "seed": train_config.seed,
        "workers": train_config.num_workers,
        "device": str(device),
        "limit": args.limit,
        "val_limit": args.val_limit,
        "train_images": len(train_set),
        "train_faces": train_set.num_faces,
        "train_non_faces": len(train_set) - train_set.num_faces,
        "val_images": len(val_set),
        "val_faces": val_set.num_faces,
        "val_non_faces": len(val_set) - val_set.num_faces,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def step_logger(mlflow, log_every: int):
    """Return an on_step callback that logs the batch losses every log_every steps."""

    def log_step(step: int, losses: dict[str, float]) -> None:
        if step % log_every == 0:
            metrics = {
                "train_loss": losses["total"],
                "train_classification_loss": losses["classification"],
                "train_vae_loss": losses["vae"],
            }
            mlflow.log_metrics(metrics, step=step)

    return log_step


def training_record(args, epoch: int, train_set, val_set, train: EpochResult) -> dict:
    """Return the data and metrics stored in config.json and shown in the card."""
    data = {
        "dataset": str(args.data),
        "train images": len(train_set),
        "train faces": train_set.num_faces,
        "validation images (test/)": len(val_set),
        "validation faces": val_set.num_faces,
        "epochs": epoch,
    }
    return {"data": data, "metrics": {"train_accuracy": train.accuracy}}


def check_options(args: argparse.Namespace) -> None:
    """Raise on options that would only fail after training."""
    if args.push_to_hub:
        parse_push_repo(args.push_to_hub)
    if args.attributes is not None:
        if args.model == "cnn" or args.no_analysis:
            logger.warning("--attributes is ignored: no analysis runs for this run")
        else:
            check_inputs(split_folder(args.data, "test"), args.attributes)


def run(args: argparse.Namespace) -> str:
    """Train, log to MLflow and write the model folder; return the MLflow run id."""
    device = pick_device(args.device)
    check_options(args)
    model_config = ModelConfig(
        kind=args.model, latent_dim=args.latent_dim, image_size=args.image_size
    )
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        kl_weight=args.kl_weight,
        seed=args.seed,
        num_workers=args.workers,
        log_every=args.log_every,
        hflip=args.hflip,
        augment=args.augment,
        augment_probability=args.augment_probability,
        lr_schedule=args.lr_schedule,
    )
    preprocess = Preprocess.from_config(model_config)
    train_set, val_set = build_datasets(args, preprocess)

    torch.manual_seed(train_config.seed)
    model = build_model(model_config).to(device)
    learning_rate = train_config.resolved_learning_rate(model_config.kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    train_loader = make_loader(train_set, train_config, shuffle=True, device=device)
    scheduler = None
    if train_config.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=train_config.epochs * len(train_loader)
        )
    val_loader = make_loader(val_set, train_config, shuffle=False, device=device)

    mlflow = configure_mlflow()
    experiment_id = ensure_experiment(mlflow, args.experiment)
    command = "python -m training.train " + shlex.join(
        sys.argv[1:] if args.argv is None else args.argv
    )
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=args.run_name
    ) as active:
        run_id = active.info.run_id
        output = args.output or Path("checkpoints") / run_id
        params = run_params(args, model, train_config, device, train_set, val_set)
        mlflow.log_params(params)
        mlflow.set_tag("command", command)

        log_step = step_logger(mlflow, train_config.log_every)

        step = 0
        for epoch in range(1, train_config.epochs + 1):
            started = time.perf_counter()
            train_result = train_epoch(
                model,
                train_loader,
                optimizer,
                device,
                train_config.kl_weight,
                scheduler=scheduler,
                on_step=log_step,
                first_step=step,
                description=f"epoch {epoch}/{train_config.epochs}",
            )
            seconds = time.perf_counter() - started
            step += len(train_loader)
            val_result = evaluate(model, val_loader, device, train_config.kl_weight)
            log_epoch(mlflow, epoch, train_result, val_result, seconds)
            logger.info(
                "epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f"
                " | %.0f images/s",
                epoch,
                train_result.loss,
                train_result.accuracy,
                val_result.loss,
                val_result.accuracy,
                train_result.images / seconds,
            )
            record = training_record(args, epoch, train_set, val_set, train_result)
            record["metrics"]["val_accuracy"] = val_result.accuracy
            record["metrics"]["val_loss"] = val_result.loss
            save_checkpoint(
                model,
                output,
                extra_config={**record, "run_id": run_id, "command": command},
            )
            write_card(output)
        if model_config.kind == "ssvae" and not args.no_analysis:
            val_faces = [path for path in val_set.files if is_face_name(path.name)]
            analyze_into(
                mlflow,
                model.eval(),
                output,
                val_set.folder,
                args.attributes,
                batch_size=train_config.batch_size,
                workers=train_config.num_workers,
                files=val_faces,
            )
        mlflow.log_artifacts(str(output), artifact_path=MLFLOW_MODEL_PATH)
    if args.push_to_hub:
        push(output, args.push_to_hub, run_id)
    print(f"model folder: {output}")
    print(f"MLflow run id: {run_id}")
    return run_id


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    args.argv = argv
    try:
        run(args)
    except (FileNotFoundError, ValueError, HubError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
