"""Matplotlib figures. Each function returns a Figure; callers save or log it."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ssvae.attributes import AUROC_CONFIDENCE  # noqa: E402
from ssvae.curve import AccuracyCurve  # noqa: E402

PRIOR_LABEL = "N(0, 1) prior"


def _standard_normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)


def latent_histograms(
    z_means: np.ndarray,
    title: str = "Latent means of the faces",
    dims: list[int] | None = None,
    labels: dict[int, str] | None = None,
    bins: int = 30,
) -> Figure:
    """Histogram of each latent dim's mean over a face set, with the prior overlaid.

    z_means has shape (faces, latent_dim); densities are normalised so the
    N(0, 1) curve is on the same scale.
    """
    dims = list(range(z_means.shape[1])) if dims is None else dims
    columns = min(8, len(dims))
    rows = math.ceil(len(dims) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(2.2 * columns, 1.9 * rows), squeeze=False
    )
    grid = np.linspace(-4, 4, 200)
    for axis, dim in zip(axes.flat, dims, strict=False):  # spare axes stay empty
        values = z_means[:, dim]
        axis.hist(values, bins=bins, density=True, color="tab:blue", alpha=0.7)
        axis.plot(grid, _standard_normal_pdf(grid), color="tab:orange", lw=1)
        name = f"dim {dim}"
        if labels and dim in labels:
            name += f"\n{labels[dim]}"
        axis.set_title(name, fontsize=8)
        axis.tick_params(labelsize=6)
    for axis in list(axes.flat)[len(dims) :]:
        axis.axis("off")
    figure.suptitle(f"{title} (orange: {PRIOR_LABEL})", fontsize=10)
    figure.tight_layout()
    return figure


def image_grid(
    images: np.ndarray,
    titles: list[str],
    title: str,
    caption: str | None = None,
    columns: int = 10,
) -> Figure:
    """Grid of (N, H, W, 3) uint8 images, each with a small title."""
    rows = max(1, math.ceil(len(images) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(1.3 * columns, 1.45 * rows + 0.6), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, name in zip(axes.flat, images, titles, strict=False):
        axis.imshow(image)
        axis.set_title(name, fontsize=6)
    figure.suptitle(title, fontsize=10)
    if caption:
        figure.text(
            0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, wrap=True
        )
    figure.tight_layout(rect=(0, 0.03 if caption else 0, 1, 1))
    return figure


def walk_sheet(
    rows: list[np.ndarray], row_labels: list[str], values: list[np.ndarray]
) -> Figure:
    """Draw one row per latent dim with the decoded images of its walk."""
    steps = max(len(row) for row in rows)
    figure, axes = plt.subplots(
        len(rows), steps, figsize=(0.9 * steps, 1.0 * len(rows) + 0.4), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for row_axes, images, label, row_values in zip(
        axes, rows, row_labels, values, strict=True
    ):
        for axis, image, value in zip(row_axes, images, row_values, strict=False):
            axis.imshow(image)
            axis.set_title(f"{round(value, 1) + 0.0:+.1f}", fontsize=5)  # no "-0.0"
        row_axes[0].text(
            -0.1,
            0.5,
            label,
            transform=row_axes[0].transAxes,
            ha="right",
            va="center",
            fontsize=7,
        )
    figure.suptitle(
        "Latent walk: one dim varied per row (value above each image)", fontsize=9
    )
    figure.tight_layout()
    return figure


def accuracy_curve_plot(curve: AccuracyCurve) -> Figure:
    """Plot the relative accuracy curve, with its bootstrap band when it has one."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    x, counts = curve.x, curve.counts
    if curve.band_low is not None:
        axis.fill_between(
            x,
            curve.band_low,
            curve.band_high,
            alpha=0.25,
            linewidth=0,
            label="90 % bootstrap band (faces resampled)",
        )
        axis.legend(fontsize=7, loc="lower right")
    axis.plot(x, curve.relative_accuracy, marker="o", ms=3)
    axis.set_xlabel("latent value (standard deviations of the N(0, 1) prior)")
    axis.set_ylabel("relative accuracy\n(mean face logit, min-max scaled)", fontsize=8)
    axis.set_title(
        "Detection vs latent position, averaged over dims "
        f"({int(counts.sum())} face-dim pairs)",
        fontsize=9,
    )
    # Min-max scaling hides the size of the differences, so state the scale.
    axis.text(
        0.01,
        0.02,
        f"0 = mean face logit {curve.mean_logit.min():.2f}, "
        f"1 = {curve.mean_logit.max():.2f}",
        transform=axis.transAxes,
        fontsize=7,
        color="dimgrey",
    )
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def attribute_auroc_plot(table) -> Figure:
    """Horizontal bars: AUROC of low density and of high loss for each attribute."""
    ordered = table.sort_values("auroc_low_density")
    positions = np.arange(len(ordered))
    figure, axis = plt.subplots(figsize=(7, 0.22 * len(ordered) + 1.2))
    for offset, column, label in (
        (-0.2, "auroc_low_density", "low latent density"),
        (0.2, "auroc_high_loss", "high loss"),
    ):
        axis.barh(
            positions + offset,
            ordered[column],
            height=0.4,
            xerr=_interval_errors(ordered, column),
            error_kw={"elinewidth": 0.6, "capsize": 1.5},
            label=label,
        )
    axis.axvline(0.5, color="grey", lw=1, ls="--")
    axis.set_yticks(positions, ordered["attribute"], fontsize=7)
    xlabel = "AUROC of retrieving the attribute (0.5 = chance"
    if (
        "auroc_low_density_ci_low" in table
        and table["auroc_low_density_ci_low"].notna().any()
    ):
        xlabel += f"; bars: {AUROC_CONFIDENCE * 100:.0f} % interval"
    axis.set_xlabel(xlabel + ")")
    axis.set_xlim(0, 1)
    axis.legend(fontsize=7, loc="lower right")
    axis.set_title(
        "Which attributes do rare latents and high losses pick out?", fontsize=9
    )
    figure.tight_layout()
    return figure


def _interval_errors(table, column: str) -> np.ndarray | None:
    """Return the (2, rows) distances to the interval ends; None without intervals."""
    if f"{column}_ci_low" not in table:
        return None
    values = table[column].to_numpy()
    low = values - table[f"{column}_ci_low"].to_numpy()
    high = table[f"{column}_ci_high"].to_numpy() - values
    return np.nan_to_num(np.stack([low, high]))  # no bar where a class is too small
