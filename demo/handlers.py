"""Event handlers of the demo: library calls in, values for Gradio components out."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from ssvae.analysis import walk_images, walk_values
from ssvae.data import ImageLoadError, load_image
from ssvae.inference import Predictor
from ssvae.plots import accuracy_curve_plot, latent_histograms
from ssvae.reference import Reference
from ssvae.sources import LoadedModel

FACE, NOT_FACE = "face", "not face"
SUPPORTED_UPLOADS = "Upload a JPEG, PNG, WebP, BMP, GIF or TIFF file."
# Percentiles of N(0, 1) used for walks when the model has no reference file.
PRIOR_SAMPLE = np.random.default_rng(0).standard_normal((10000, 1))
ATTRIBUTE_COLUMNS = [
    "attribute",
    "prevalence",
    "auroc_low_density",
    "auroc_low_density_ci_low",
    "auroc_low_density_ci_high",
    "auroc_high_loss",
    "auroc_high_loss_ci_low",
    "auroc_high_loss_ci_high",
    "mean_loss_with",
    "mean_loss_without",
    "detection_rate_with",
    "detection_rate_without",
    "top_dims",
]


class UploadImage(gr.Image):
    """gr.Image whose undecodable uploads raise a gr.Error the page can show."""

    is_template = True  # rendered by Gradio's own Image front end

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (OSError, ValueError, SyntaxError) as error:  # PIL decode failures
            name = getattr(payload, "orig_name", None) or "the upload"
            raise gr.Error(
                f"Could not read {name!r} as an image ({type(error).__name__}). "
                f"{SUPPORTED_UPLOADS}"
            ) from error


class DemoHandlers:
    """The app's event handlers; each returns values for its output components."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.predictor = Predictor(loaded.model, next(loaded.model.parameters()).device)
        self.reference = (
            Reference.load(loaded.folder) if self.predictor.is_vae else None
        )
        self.labels = self.reference.dim_labels() if self.reference else {}

    def _load(self, path: str | None):
        if not path:
            raise gr.Error("No image uploaded: choose an image file first.")
        try:
            return load_image(path)
        except ImageLoadError as error:
            reason = error.__cause__ or error  # the decoder's error, without the path
            raise gr.Error(
                f"Could not read the upload {Path(path).name!r} as an image "
                f"({reason}). {SUPPORTED_UPLOADS}"
            ) from error

    def _require_vae(self, feature: str) -> None:
        if not self.predictor.is_vae:
            raise gr.Error(
                f"This model is a CNN classifier: it has no decoder for {feature}."
            )

    def classify(self, path: str | None) -> dict[str, float]:
        prediction = self.predictor.predict([self._load(path)])
        probability = float(prediction.face_probability[0])
        return {FACE: probability, NOT_FACE: 1.0 - probability}

    def typicality(self, path: str | None) -> str:
        """Return Markdown with the upload's percentiles among the reference faces."""
        if not path or self.reference is None:
            return ""
        try:
            prediction = self.predictor.predict([self._load(path)])
        except gr.Error:
            return ""
        return self._typicality_text(prediction)

    def _typicality_text(self, prediction) -> str:
        if self.reference is None or prediction.z_mean is None:
            return ""
        place = self.reference.locate(
            float(prediction.reconstruction_loss[0]), prediction.z_mean[0]
        )
        faces = len(self.reference.scores.table)
        return (
            f"How typical is this image for the model, among {faces} reference "
            f"faces: reconstruction loss at percentile "
            f"**{place['reconstruction_loss_percentile']:.0f}** (higher = harder), "
            f"latent density at percentile **{place['density_percentile']:.0f}** "
            "(lower = rarer)."
        )

    def reconstruct(self, path: str | None):
        self._require_vae("reconstruction")
        prediction = self.predictor.predict([self._load(path)])
        loss = float(prediction.reconstruction_loss[0])
        probability = float(prediction.face_probability[0])
        summary = (
            f"Reconstruction loss (mean absolute error in normalised pixels): "
            f"**{loss:.4f}**. Face probability: {probability:.3f}."
        )
        typical = self._typicality_text(prediction)
        if typical:
            summary += "\n\n" + typical
        return prediction.inputs[0], prediction.reconstructions[0], summary

    def dim_choices(self) -> list[tuple[str, str]]:
        """Return the dim dropdown's (label, value) choices.

        Values are strings because Gradio's API listing shows choices as strings.
        latent_walk converts them back to int.
        """
        latent_dim = self.loaded.model.config.latent_dim
        return [
            (f"dim {d} ≈ {self.labels[d]}" if d in self.labels else f"dim {d}", str(d))
            for d in range(latent_dim)
        ]

    def latent_walk(
        self,
        dim: int | str,
        steps: float,
        low: float,
        high: float,
        baseline: str,
        path: str | None,
    ) -> list[tuple[np.ndarray, str]]:
        self._require_vae("latent walks")
        latent_dim = self.loaded.model.config.latent_dim
        dim, steps = int(dim), int(steps)
        if not 0 <= dim < latent_dim:
            raise gr.Error(
                f"Latent dim {dim} is out of range: pick 0 to {latent_dim - 1}."
            )
        if not 0 <= low < high <= 100:
            raise gr.Error(
                f"Invalid percentile range {low}-{high}: need 0 <= from < to <= 100."
            )
        if not 2 <= steps <= 200:
            raise gr.Error(f"Invalid number of steps {steps}: pick 2 to 200.")
        if self.reference is not None:
            reference_latents = self.reference.scores.z_means
        else:
            reference_latents = np.repeat(PRIOR_SAMPLE, latent_dim, axis=1)
        if baseline == "uploaded image":
            start = self.predictor.predict([self._load(path)]).z_mean[0]
        else:
            start = reference_latents.mean(axis=0)
        values = walk_values(reference_latents, dim, (low, high), steps)
        images = walk_images(self.loaded.model, start, dim, values)
        return [
            (image, f"z[{dim}] = {round(value, 2) + 0.0:+.2f}")
            for image, value in zip(images, values, strict=True)
        ]

    def reference_description(self) -> str:
        if self.reference is None:
            return (
                "This model has no reference file (reference.npz), so there is no "
                "bias report. Create one with `python -m training.analyze "
                "--checkpoint MODEL_DIR --data FACE_DIR`."
            )
        return f"Reference faces: {self.reference.description}."

    def bias_report(self):
        if self.reference is None:
            raise gr.Error(self.reference_description())
        reference = self.reference
        table = reference.scores.table
        histograms = latent_histograms(
            reference.scores.z_means,
            title="Latent means of the reference faces",
            labels=self.labels,
        )
        curve_figure = accuracy_curve_plot(reference.curve)
        galleries = []
        for name, column in (
            ("lowest_loss", "total_loss"),
            ("highest_loss", "total_loss"),
            ("lowest_density", "log_density"),
        ):
            indices, thumbnails = reference.galleries[name]
            galleries.append([
                (image, f"{table['file'].iloc[i]}: {table[column].iloc[i]:.3f}")
                for image, i in zip(thumbnails, indices, strict=True)
            ])  # fmt: skip
        if reference.attribute_table is not None:
            attribute_table = reference.attribute_table
            # Reference files written before the intervals lack their columns.
            columns = [c for c in ATTRIBUTE_COLUMNS if c in attribute_table]
            attributes = attribute_table[columns]
            attributes = attributes.sort_values("auroc_low_density", ascending=False)
            attributes = attributes.round(3).reset_index(drop=True)
        else:
            attributes = pd.DataFrame({"attribute": ["no attribute table was given"]})
        return histograms, curve_figure, *galleries, attributes
