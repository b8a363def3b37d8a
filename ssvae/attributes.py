"""Check bias findings against attribute labels the model never trained on."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from ssvae.analysis import FaceScores

logger = logging.getLogger(__name__)

# A dim is named after its strongest attribute only when |r| reaches this.
MIN_LABEL_CORRELATION = 0.3
AUROC_CONFIDENCE = 0.95


def correlations(z_means: np.ndarray, attributes: np.ndarray) -> np.ndarray:
    """Pearson r of each attribute (columns of attributes) with each latent dim.

    Returns (attributes, dims); a constant attribute or dim correlates 0.
    """
    z = z_means - z_means.mean(axis=0)
    a = attributes - attributes.mean(axis=0)
    z_norm = np.sqrt((z**2).sum(axis=0))
    a_norm = np.sqrt((a**2).sum(axis=0))
    denominator = np.outer(a_norm, z_norm)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a.T @ z) / denominator
    return np.where(denominator > 0, r, 0.0)


def precision_at_k(labels: np.ndarray, score: np.ndarray, k: int) -> float:
    """Fraction of positives among the k highest-scoring items."""
    k = min(k, len(labels))
    top = np.argsort(-score, kind="stable")[:k]
    return float(labels[top].mean())


def auroc(labels: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve; NaN when labels hold a single class."""
    if labels.min() == labels.max():
        return float("nan")
    return float(roc_auc_score(labels, score))


def auroc_interval(
    labels: np.ndarray, score: np.ndarray, confidence: float = AUROC_CONFIDENCE
) -> tuple[float, float]:
    """Return the AUROC's confidence interval by DeLong's method, within [0, 1].

    Each positive's share of negatives scored below it, and each negative's
    share of positives scored above it (ties count half), give the variance of
    the AUROC under a normal approximation. (NaN, NaN) when a class has fewer
    than 2 items.
    """
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = score[labels], score[~labels]
    m, n = len(positives), len(negatives)
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    ranks = rankdata(np.concatenate([positives, negatives]))
    above_negatives = (ranks[:m] - rankdata(positives)) / n
    below_positives = 1.0 - (ranks[m:] - rankdata(negatives)) / m
    area = float(above_negatives.mean())
    variance = above_negatives.var(ddof=1) / m + below_positives.var(ddof=1) / n
    half_width = norm.ppf(0.5 + confidence / 2) * np.sqrt(variance)
    return max(0.0, area - half_width), min(1.0, area + half_width)


def dim_labels(
    r: np.ndarray, names: list[str], min_correlation: float = MIN_LABEL_CORRELATION
) -> dict[int, str]:
    """Name each dim after its most correlated attribute if |r| >= min_correlation."""
    labels = {}
    for dim in range(r.shape[1]):
        best = int(np.argmax(np.abs(r[:, dim])))
        if abs(r[best, dim]) >= min_correlation:
            labels[dim] = f"{names[best]}, r = {r[best, dim]:.2f}"
    return labels


def attribute_report(
    scores: FaceScores, attributes: pd.DataFrame, k: int = 100, top_dims: int = 3
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the per-attribute table and the attribute x dim correlation matrix.

    A row gives the attribute's prevalence among the scored faces, and the mean
    loss, mean log-density and detection rate (probability > 0.5) of faces with
    and without it. It also lists the most correlated dims, and how well ranking
    faces by low density or by high loss retrieves the attribute (AUROC,
    precision@k). Faces without a row in attributes are left out.
    """
    table = scores.table
    matched = table["file"].isin(attributes.index).to_numpy()
    if not matched.any():
        raise ValueError(
            "no scored face has a row in the attribute table: its index must be "
            "file names such as 000123.jpg"
        )
    if not matched.all():
        logger.warning(
            "%d faces have no attribute row and are left out", (~matched).sum()
        )
    faces = table[matched].reset_index(drop=True)
    values = attributes.loc[faces["file"]].to_numpy(dtype=np.float64)
    names = list(attributes.columns)
    r = correlations(scores.z_means[matched], values)

    loss = faces["total_loss"].to_numpy()
    density = faces["log_density"].to_numpy()
    detected = (faces["face_probability"] > 0.5).to_numpy()
    rows = []
    for column, name in enumerate(names):
        has = values[:, column] > 0.5
        order = np.argsort(-np.abs(r[column]))[:top_dims]
        rows.append({
            "attribute": name,
            "prevalence": has.mean(),
            "faces_with": int(has.sum()),
            "mean_loss_with": loss[has].mean() if has.any() else np.nan,
            "mean_loss_without": loss[~has].mean() if (~has).any() else np.nan,
            "mean_log_density_with": density[has].mean() if has.any() else np.nan,
            "mean_log_density_without": (
                density[~has].mean() if (~has).any() else np.nan
            ),
            "detection_rate_with": detected[has].mean() if has.any() else np.nan,
            "detection_rate_without": detected[~has].mean() if (~has).any() else np.nan,
            "top_dims": ", ".join(f"{d} (r={r[column, d]:+.2f})" for d in order),
            "auroc_low_density": auroc(has, -density),
            "auroc_high_loss": auroc(has, loss),
            **_interval_columns("auroc_low_density", has, -density),
            **_interval_columns("auroc_high_loss", has, loss),
            f"precision_at_{k}_low_density": precision_at_k(has, -density, k),
            f"precision_at_{k}_high_loss": precision_at_k(has, loss, k),
        })  # fmt: skip
    return pd.DataFrame(rows), r


def _interval_columns(name: str, labels: np.ndarray, score: np.ndarray) -> dict:
    low, high = auroc_interval(labels, score)
    return {f"{name}_ci_low": low, f"{name}_ci_high": high}
