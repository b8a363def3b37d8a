"""Check bias findings against attribute labels the model never trained on."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata, t
from sklearn.metrics import roc_auc_score

from ssvae.analysis import FaceScores

logger = logging.getLogger(__name__)

# A dim is named after its strongest attribute only when |r| reaches this.
MIN_LABEL_CORRELATION = 0.3
AUROC_CONFIDENCE = 0.95
# An attribute is ranked (AUROC, precision@k) only with at least this many
# scored faces that have it and as many that do not.
MIN_ATTRIBUTE_FACES = 10


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


def significant_correlation(faces: int, tests: int, alpha: float = 0.05) -> float:
    """Return the smallest |r| that is significant over `tests` correlations.

    Two-sided t-test of Pearson's r on `faces` pairs, Bonferroni-corrected for
    the number of tests. Infinity (no r qualifies) with 3 faces or fewer.
    """
    if faces <= 3:
        return float("inf")
    critical_t = t.ppf(1 - alpha / (2 * tests), faces - 2)
    return float(critical_t / np.sqrt(faces - 2 + critical_t**2))


def dim_labels(
    r: np.ndarray,
    names: list[str],
    faces: int,
    min_correlation: float = MIN_LABEL_CORRELATION,
) -> dict[int, str]:
    """Name each dim after its most correlated attribute where that is meaningful.

    The correlation must reach min_correlation and be significant over all
    attribute x dim pairs, given that r was measured on `faces` faces.
    """
    threshold = max(min_correlation, significant_correlation(faces, r.size))
    labels = {}
    for dim in range(r.shape[1]):
        best = int(np.argmax(np.abs(r[:, dim])))
        if abs(r[best, dim]) >= threshold:
            labels[dim] = f"{names[best]}, r = {r[best, dim]:.2f}"
    return labels


def check_attribute_rows(
    attributes: pd.DataFrame, face_names: list[str], source: object = None
) -> None:
    """Raise ValueError if none of the faces has a row in the attribute table.

    source, if given, names the table in the message (for example its path).
    """
    if not pd.Index(face_names).isin(attributes.index).any():
        table = "the attribute table" + (f" {source}" if source else "")
        examples = ", ".join(list(attributes.index[:2]))
        raise ValueError(
            f"none of the {len(face_names)} faces has a row in {table} (its rows "
            f"are named like {examples}): the first column must hold face file "
            "names such as 000123.jpg"
        )


def attribute_report(
    scores: FaceScores, attributes: pd.DataFrame, k: int = 100, top_dims: int = 3
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the per-attribute table and the attribute x dim correlation matrix.

    A row gives the attribute's prevalence among the scored faces, and the mean
    loss, mean log-density and detection rate (probability > 0.5) of faces with
    and without it. It also lists the most correlated dims, and how well ranking
    faces by low density or by high loss retrieves the attribute (AUROC with
    its interval, precision@k). Those are NaN for an attribute with fewer than
    MIN_ATTRIBUTE_FACES faces with or without it. Faces without a row in
    attributes are left out.
    """
    table = scores.table
    check_attribute_rows(attributes, list(table["file"]))
    matched = table["file"].isin(attributes.index).to_numpy()
    if not matched.all():
        logger.warning(
            "%d faces have no attribute row and are left out", (~matched).sum()
        )
    faces = table[matched].reset_index(drop=True)
    values = attributes.loc[faces["file"]].to_numpy(dtype=np.float64)
    names = list(attributes.columns)
    r = correlations(scores.z_means[matched], values)

    if len(faces) < 2 * MIN_ATTRIBUTE_FACES:
        logger.warning(
            "only %d faces have attribute rows, too few to rank any attribute, "
            "which needs %d faces with it and %d without",
            len(faces),
            MIN_ATTRIBUTE_FACES,
            MIN_ATTRIBUTE_FACES,
        )
    loss = faces["total_loss"].to_numpy()
    density = faces["log_density"].to_numpy()
    detected = (faces["face_probability"] > 0.5).to_numpy()
    rows = []
    for column, name in enumerate(names):
        has = values[:, column] > 0.5
        order = np.argsort(-np.abs(r[column]))[:top_dims]
        ranked = min(has.sum(), (~has).sum()) >= MIN_ATTRIBUTE_FACES
        rows.append({
            "attribute": name,
            "prevalence": has.mean(),
            "faces_with": int(has.sum()),
            "faces_without": int((~has).sum()),
            "mean_loss_with": loss[has].mean() if has.any() else np.nan,
            "mean_loss_without": loss[~has].mean() if (~has).any() else np.nan,
            "mean_log_density_with": density[has].mean() if has.any() else np.nan,
            "mean_log_density_without": (
                density[~has].mean() if (~has).any() else np.nan
            ),
            "detection_rate_with": detected[has].mean() if has.any() else np.nan,
            "detection_rate_without": detected[~has].mean() if (~has).any() else np.nan,
            "top_dims": ", ".join(f"{d} (r={r[column, d]:+.2f})" for d in order),
            **_ranking_columns("low_density", has, -density, k, ranked),
            **_ranking_columns("high_loss", has, loss, k, ranked),
        })  # fmt: skip
    return pd.DataFrame(rows), r


def _ranking_columns(
    name: str, labels: np.ndarray, score: np.ndarray, k: int, ranked: bool
) -> dict:
    """Return AUROC, its interval and precision@k of one ranking; NaN if not ranked."""
    if not ranked:
        values = [np.nan] * 4
    else:
        values = [
            auroc(labels, score),
            *auroc_interval(labels, score),
            precision_at_k(labels, score, k),
        ]
    columns = [
        f"auroc_{name}",
        f"auroc_{name}_ci_low",
        f"auroc_{name}_ci_high",
        f"precision_at_{k}_{name}",
    ]
    return dict(zip(columns, values, strict=True))
