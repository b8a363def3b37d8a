"""Run every bias analysis over a face folder and write its figures and tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ssvae.analysis import score_faces, walk_images, walk_values
from ssvae.attributes import attribute_report
from ssvae.data import FlatImageDataset, Preprocess, load_attributes
from ssvae.models import SSVAE
from ssvae.plots import (
    accuracy_curve_plot,
    attribute_auroc_plot,
    image_grid,
    latent_histograms,
    walk_sheet,
)
from ssvae.reference import Reference, build_reference, thumbnails

logger = logging.getLogger(__name__)

LOSS_CAPTION = (
    "High loss marks faces the model finds hard to reconstruct or detect "
    "(uncertainty). That is not the same as bias: check which groups they belong to."
)
DENSITY_CAPTION = (
    "Lowest latent density: faces whose latents are rare among the analysed "
    "faces. If those come from the same source as the training faces, such faces "
    "were likely rare in training too."
)
# Below this many faces the analysis still runs but logs that it is unreliable.
FEW_FACES = 100


@dataclass
class AnalysisOutput:
    reference: Reference
    files: list[Path] = field(default_factory=list)  # figures and tables written


def walk_dims(reference: Reference, count: int = 8) -> list[int]:
    """Return the `count` dims whose latent means vary most across the faces."""
    spread = reference.scores.z_means.std(axis=0)
    return [int(d) for d in np.argsort(-spread, kind="stable")[:count]]


def decode_walk_rows(
    model: SSVAE,
    reference: Reference,
    dims: list[int],
    steps: int = 30,
    percentiles=(5.0, 95.0),
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Walk each dim from the mean latent; return uint8 image rows and the values."""
    baseline = reference.scores.z_means.mean(axis=0)
    rows, values = [], []
    for dim in dims:
        dim_values = walk_values(reference.scores.z_means, dim, percentiles, steps)
        rows.append(walk_images(model, baseline, dim, dim_values))
        values.append(dim_values)
    return rows, values


def _save(figure, path: Path, written: list[Path]) -> None:
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)


def analyze_faces(
    model: SSVAE,
    face_folder: str | Path,
    output_dir: str | Path,
    attributes_path: str | Path | None = None,
    batch_size: int = 128,
    num_workers: int = 0,
    limit: int | None = None,
    files: list[Path] | None = None,
) -> AnalysisOutput:
    """Score the faces of face_folder and write the seven analyses into output_dir.

    Non-face files are ignored. files, if given, restricts the analysis to
    those images of the folder. Returns the Reference (not yet saved into a
    model folder) and the list of files written.
    """
    if not isinstance(model, SSVAE):
        raise ValueError("bias analysis needs an SS-VAE: a CNN has no latent space")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    preprocess = Preprocess.from_config(model.config)
    dataset = FlatImageDataset(face_folder, preprocess, faces_only=True, files=files)
    dataset = dataset.subset(limit)
    if len(dataset) < FEW_FACES:
        logger.warning(
            "only %d faces to analyse, so histograms, densities, the accuracy curve "
            "and attribute findings will be noisy (an estimate: use %d or more)",
            len(dataset),
            FEW_FACES,
        )
    scores = score_faces(model, dataset, batch_size, num_workers)
    written: list[Path] = []

    attribute_table = correlations = None
    if attributes_path is not None:
        attribute_table, correlations = attribute_report(
            scores, load_attributes(attributes_path)
        )
    reference = build_reference(
        scores,
        Path(face_folder),
        attribute_table,
        correlations,
        description=f"{len(scores.table)} faces of {face_folder}",
    )

    scores_path = output_dir / "face_scores.csv"
    scores.table.to_csv(scores_path, index=False)
    written.append(scores_path)
    table = scores.table
    grids = (
        (
            "lowest_loss",
            "total_loss",
            "lowest-loss faces (title: total loss)",
            LOSS_CAPTION,
        ),
        (
            "highest_loss",
            "total_loss",
            "highest-loss faces (title: total loss)",
            LOSS_CAPTION,
        ),
        (
            "lowest_density",
            "log_density",
            "lowest-density faces (title: log density)",
            DENSITY_CAPTION,
        ),
    )
    for name, column, title, caption in grids:
        indices, _ = reference.galleries[name]
        # Sharper than the stored thumbnails: the figures are for reading.
        images = thumbnails(
            [Path(face_folder) / table["file"].iloc[i] for i in indices], 96
        )
        titles = [f"{table[column].iloc[i]:.3f}" for i in indices]
        figure = image_grid(images, titles, f"{len(indices)} {title}", caption)
        _save(figure, output_dir / f"{name}_faces.png", written)

    labels = reference.dim_labels()
    _save(
        latent_histograms(scores.z_means, labels=labels),
        output_dir / "latent_histograms.png",
        written,
    )

    dims = walk_dims(reference)
    rows, values = decode_walk_rows(model, reference, dims)
    row_labels = [f"dim {d}" + (f"\n{labels[d]}" if d in labels else "") for d in dims]
    _save(walk_sheet(rows, row_labels, values), output_dir / "latent_walk.png", written)

    _save(
        accuracy_curve_plot(reference.curve),
        output_dir / "accuracy_curve.png",
        written,
    )

    if attribute_table is not None:
        table_path = output_dir / "attribute_table.csv"
        attribute_table.to_csv(table_path, index=False)
        written.append(table_path)
        _save(
            attribute_auroc_plot(attribute_table),
            output_dir / "attribute_auroc.png",
            written,
        )
    logger.info("analysed %d faces, wrote %d files", len(table), len(written))
    return AnalysisOutput(reference, written)
