"""Benchmark: batched face scoring against the per-image loop that tutorials use.

The baseline scores one image at a time with autograd on (no torch.no_grad),
the way the analysis is often written in tutorials; score_faces batches the
images and runs under torch.no_grad (channels-last on the CPU). Decoding alone
is timed too: both sides decode every file, so the speed-up cannot exceed the
loop's time over the decode time divided among the loader processes.

    python -m benchmarks.analysis_speed --data ../shared/data/ssvae-sample/test
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ssvae.analysis import inference_model, score_faces
from ssvae.checkpoint import load_checkpoint
from ssvae.data import (
    FlatImageDataset,
    Preprocess,
    inference_workers,
    load_image,
)
from ssvae.device import pick_device
from ssvae.losses import per_image_losses
from ssvae.sources import BUNDLED_MODEL_DIR


def per_image_loop(
    model, dataset: FlatImageDataset, device: torch.device
) -> list[float]:
    preprocess = Preprocess.from_config(model.config)
    losses = []
    for path in dataset.files:
        image = preprocess(load_image(path)).unsqueeze(0).to(device)
        output = model(image, sample=False)  # autograd records the graph
        terms = per_image_losses(output, image, torch.ones(1, device=device))
        losses.append(terms["total"].item())
    return losses


def decode_only(dataset: FlatImageDataset) -> float:
    """Decode and preprocess every file once in this process; return seconds."""
    started = time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    return time.perf_counter() - started


def model_only(model, images: torch.Tensor, batch_size: int) -> tuple[float, float]:
    """Time the two loops on images already decoded in memory; return seconds."""
    ones = torch.ones(len(images), device=images.device)
    started = time.perf_counter()
    for index in range(len(images)):
        image = images[index : index + 1]
        output = model(image, sample=False)
        per_image_losses(output, image, ones[:1])["total"].item()
    loop_seconds = time.perf_counter() - started
    with inference_model(model) as (batched_model, memory_format), torch.no_grad():
        started = time.perf_counter()
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            batch = batch.contiguous(memory_format=memory_format)
            output = batched_model(batch, sample=False)
            per_image_losses(output, batch, ones[: len(batch)])["total"].cpu()
        batched_seconds = time.perf_counter() - started
    return loop_seconds, batched_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="face folder")
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_MODEL_DIR)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--workers",
        type=int,
        default=inference_workers(),
        help="loader processes of the batched run (default here: %(default)s)",
    )
    args = parser.parse_args()

    device = pick_device(args.device)
    model, _ = load_checkpoint(args.checkpoint, device)
    dataset = FlatImageDataset(
        args.data, Preprocess.from_config(model.config), faces_only=True
    )

    decode_seconds = decode_only(dataset)

    started = time.perf_counter()
    loop_losses = per_image_loop(model, dataset, device)
    loop_seconds = time.perf_counter() - started

    started = time.perf_counter()
    scores = score_faces(model, dataset, num_workers=args.workers, progress=False)
    batched_seconds = time.perf_counter() - started

    largest_gap = max(
        abs(a - b) for a, b in zip(loop_losses, scores.table["total_loss"], strict=True)
    )
    print(
        f"faces: {len(dataset)}, device: {device}, "
        f"torch threads: {torch.get_num_threads()}"
    )
    print(f"decoding alone, one process: {decode_seconds:.1f} s")
    print(
        f"per-image loop with autograd: {loop_seconds:.1f} s "
        f"({len(dataset) / loop_seconds:.0f} faces/s)"
    )
    print(
        f"batched, no_grad, {args.workers} workers: {batched_seconds:.1f} s "
        f"({len(dataset) / batched_seconds:.0f} faces/s)"
    )
    print(
        f"speed-up: {loop_seconds / batched_seconds:.1f}x, "
        f"largest loss difference {largest_gap:.2e}"
    )

    images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    loop_seconds, batched_seconds = model_only(model, images.to(device), 128)
    print(
        f"model only, images in memory: loop {loop_seconds:.1f} s, batched "
        f"{batched_seconds:.1f} s, speed-up {loop_seconds / batched_seconds:.1f}x"
    )


if __name__ == "__main__":
    main()
