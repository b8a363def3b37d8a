"""The analysis reference file stored in a model folder (reference.npz).

It holds per-face results of the reference faces, the latent density
histograms, the accuracy curve, attribute correlations and small thumbnails,
so the app can draw every bias plot without the dataset. It is written with
numpy's savez and read with allow_pickle=False.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ssvae.analysis import FaceScores, LatentDensity, percentile_of
from ssvae.attributes import dim_labels
from ssvae.checkpoint import write_atomic
from ssvae.curve import AccuracyCurve, accuracy_curve
from ssvae.data import load_image

REFERENCE_FILE = "reference.npz"
THUMBNAIL_SIZE = 48  # three galleries of 100 faces take 2 MB before compression
SCORE_COLUMNS = (
    "face_logit",
    "face_probability",
    "total_loss",
    "reconstruction_loss",
    "kl",
    "log_density",
)


@dataclass
class Reference:
    scores: FaceScores
    density: LatentDensity
    curve: AccuracyCurve
    attribute_table: pd.DataFrame | None = None
    correlations: np.ndarray | None = None  # (attributes, dims)
    # name -> (row indices into scores.table, thumbnails (n, 48, 48, 3) uint8)
    galleries: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    description: str = ""  # which faces, e.g. "1000 faces of ../data/test"

    def dim_labels(self) -> dict[int, str]:
        if self.attribute_table is None or self.correlations is None:
            return {}
        table = self.attribute_table
        if "faces_without" in table:
            faces = int(table["faces_with"].iloc[0] + table["faces_without"].iloc[0])
        else:
            # Files written before that column: prevalence is faces_with over the
            # faces that had an attribute row, so one present attribute gives it.
            present = table[table["prevalence"] > 0]
            faces = len(self.scores.table)
            if len(present):
                row = present.iloc[0]
                faces = round(row["faces_with"] / row["prevalence"])
        return dim_labels(self.correlations, list(table["attribute"]), faces)

    def locate(
        self, reconstruction_loss: float, z_mean: np.ndarray
    ) -> dict[str, float]:
        """Return the percentiles of one face's loss and density among the reference."""
        table = self.scores.table
        log_density = float(
            self.density.log_density(np.asarray(z_mean).reshape(1, -1))[0]
        )
        return {
            "reconstruction_loss_percentile": percentile_of(
                reconstruction_loss, table["reconstruction_loss"].to_numpy()
            ),
            "log_density": log_density,
            "density_percentile": percentile_of(
                log_density, table["log_density"].to_numpy()
            ),
        }

    def save(self, folder: str | Path) -> Path:
        table = self.scores.table
        arrays = {
            "files": table["file"].to_numpy(dtype=str),
            "z_means": self.scores.z_means.astype(np.float32),
            "density_edges": self.density.edges,
            "density_values": self.density.densities,
            "curve_x": self.curve.x,
            "curve_relative_accuracy": self.curve.relative_accuracy,
            "curve_mean_logit": self.curve.mean_logit,
            "curve_counts": self.curve.counts,
            "description": np.array(self.description),
        }
        if self.curve.band_low is not None:
            arrays["curve_band_low"] = self.curve.band_low
            arrays["curve_band_high"] = self.curve.band_high
        for column in SCORE_COLUMNS:
            arrays[f"score_{column}"] = table[column].to_numpy(dtype=np.float32)
        if self.attribute_table is not None:
            arrays["attribute_table_json"] = np.array(
                self.attribute_table.to_json(orient="split")
            )
            arrays["correlations"] = self.correlations.astype(np.float32)
        for name, (indices, thumbnails) in self.galleries.items():
            arrays[f"gallery_{name}_indices"] = indices
            arrays[f"gallery_{name}_thumbnails"] = thumbnails
        path = Path(folder) / REFERENCE_FILE

        def write(temporary: str) -> None:
            with open(temporary, "wb") as handle:
                np.savez_compressed(handle, **arrays)

        write_atomic(path, write)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Reference | None:
        """Read the reference file of a model folder; None if it has none."""
        path = Path(folder) / REFERENCE_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        table = pd.DataFrame({"file": arrays["files"]})
        for column in SCORE_COLUMNS:
            table[column] = arrays[f"score_{column}"]
        attribute_table = None
        if "attribute_table_json" in arrays:
            attribute_table = pd.read_json(
                io.StringIO(str(arrays["attribute_table_json"])), orient="split"
            )
        galleries = {}
        for name in arrays:
            if name.startswith("gallery_") and name.endswith("_indices"):
                key = name.removeprefix("gallery_").removesuffix("_indices")
                galleries[key] = (arrays[name], arrays[f"gallery_{key}_thumbnails"])
        return cls(
            scores=FaceScores(table, arrays["z_means"]),
            density=LatentDensity(arrays["density_edges"], arrays["density_values"]),
            curve=AccuracyCurve(
                arrays["curve_x"],
                arrays["curve_relative_accuracy"],
                arrays["curve_mean_logit"],
                arrays["curve_counts"],
                # Files written without a band have neither array.
                arrays.get("curve_band_low"),
                arrays.get("curve_band_high"),
            ),
            attribute_table=attribute_table,
            correlations=arrays.get("correlations"),
            galleries=galleries,
            description=str(arrays["description"]),
        )


def thumbnails(paths: list[Path], size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Load images as (n, size, size, 3) uint8, stretched like the model input."""
    images = [
        np.asarray(load_image(path).resize((size, size), Image.Resampling.BILINEAR))
        for path in paths
    ]
    return np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)


def build_reference(
    scores: FaceScores,
    folder: Path,
    attribute_table: pd.DataFrame | None = None,
    correlations: np.ndarray | None = None,
    gallery_size: int = 100,
    description: str = "",
) -> Reference:
    """Assemble a Reference with thumbnails of the extreme-loss and rarest faces."""
    table = scores.table
    order_loss = np.argsort(table["total_loss"].to_numpy(), kind="stable")
    order_density = np.argsort(table["log_density"].to_numpy(), kind="stable")
    picks = {
        "lowest_loss": order_loss[:gallery_size],
        "highest_loss": order_loss[::-1][:gallery_size],
        "lowest_density": order_density[:gallery_size],
    }
    galleries = {
        name: (indices, thumbnails([folder / table["file"].iloc[i] for i in indices]))
        for name, indices in picks.items()
    }
    return Reference(
        scores=scores,
        density=LatentDensity.fit(scores.z_means),
        curve=accuracy_curve(scores.z_means, table["face_logit"].to_numpy()),
        attribute_table=attribute_table,
        correlations=correlations,
        galleries=galleries,
        description=description,
    )
