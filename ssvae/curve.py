"""Relative detection accuracy against latent position, with a bootstrap band.

Faces are binned by each latent dim's value; the mean face logit per bin is
averaged over dims and min-max normalised. Resampling the faces with
replacement and recomputing the curve on the same bins gives a band that shows
how much of the curve's shape is noise from the number of faces per bin.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ssvae.analysis import DEFAULT_PERCENTILES, DEFAULT_STEPS

BOOTSTRAP_SAMPLES = 200
BAND_PERCENTILES = (5.0, 95.0)  # a 90 % band


@dataclass
class AccuracyCurve:
    """Relative detection score against latent position, averaged over dims.

    x is the mean latent value of the faces in each bin, in standard
    deviations of the N(0, 1) prior. relative_accuracy is the mean face logit
    per bin, averaged over dims, then min-max normalised to [0, 1] (a single
    point or a flat curve normalises to 1). counts are faces per bin summed
    over dims. band_low and band_high bound the 90 % bootstrap band on the same
    scale (so they may leave [0, 1]); None when no band was computed.
    """

    x: np.ndarray
    relative_accuracy: np.ndarray
    mean_logit: np.ndarray
    counts: np.ndarray
    band_low: np.ndarray | None = None
    band_high: np.ndarray | None = None


def bin_faces(
    z_means: np.ndarray, percentiles=DEFAULT_PERCENTILES, steps: int = DEFAULT_STEPS
) -> np.ndarray:
    """Return the bin of every face in every dim: (faces, dims) ints in 0..steps.

    In each dim, `steps` edges span the two percentiles, so there are
    steps + 1 bins and the outer two are open. A constant dim puts every face
    into the middle bin.
    """
    bins = np.empty(z_means.shape, dtype=np.int64)
    for dim, values in enumerate(z_means.T):
        low, high = np.percentile(values, percentiles)
        if high - low < 1e-12:
            bins[:, dim] = steps // 2
        else:
            bins[:, dim] = np.digitize(values, np.linspace(low, high, steps))
    return bins


def _bin_sums(
    bins: np.ndarray, values: np.ndarray, weights: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (weight, weighted value) summed per dim and bin, each (dims, size).

    values is (faces, dims), or (faces, 1) for one value per face; weights is
    (faces,): how many times each face counts.
    """
    dims = bins.shape[1]
    flat = (bins + size * np.arange(dims)).ravel()
    face_weights = np.repeat(weights, dims)
    weighted = (np.broadcast_to(values, bins.shape) * weights[:, None]).ravel()
    totals = np.bincount(flat, weights=face_weights, minlength=size * dims)
    sums = np.bincount(flat, weights=weighted, minlength=size * dims)
    return totals.reshape(dims, size), sums.reshape(dims, size)


def _mean_over_dims(totals: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Average the per-dim bin means over the dims where the bin contains faces.

    Returns (size,), NaN for a bin that is empty in every dim.
    """
    present = totals > 0
    means = np.divide(sums, totals, out=np.zeros_like(sums), where=present)
    dims_present = present.sum(axis=0)
    return np.divide(
        means.sum(axis=0),
        dims_present,
        out=np.full(totals.shape[1], np.nan),
        where=dims_present > 0,
    )


def accuracy_curve(
    z_means: np.ndarray,
    logits: np.ndarray,
    percentiles=DEFAULT_PERCENTILES,
    steps: int = DEFAULT_STEPS,
    dims: list[int] | None = None,
    bootstrap: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> AccuracyCurve:
    """Average the mean face logit per latent bin over dims, then min-max normalise.

    Empty bins are skipped (never NaN): bin k is averaged over the dims where
    it contains faces. With bootstrap > 0, that many resamples of the faces
    (with replacement, on the same bins) give the band. A resample that
    leaves a bin empty is left out of that bin's band, and a bin that every
    resample leaves empty gets the curve's own value as its band.

    NOTE: a bin that contains a single face gets a zero-width band, because every
    resample either repeats that face or leaves the bin empty.
    """
    dims = list(range(z_means.shape[1])) if dims is None else dims
    z_means = np.asarray(z_means, dtype=np.float64)[:, dims]
    logits = np.asarray(logits, dtype=np.float64)[:, None]
    size = steps + 1
    bins = bin_faces(z_means, percentiles, steps)
    ones = np.ones(len(z_means))

    totals, logit_sums = _bin_sums(bins, logits, ones, size)
    _, value_sums = _bin_sums(bins, z_means, ones, size)
    keep = totals.sum(axis=0) > 0
    mean_logit = _mean_over_dims(totals, logit_sums)[keep]
    x = _mean_over_dims(totals, value_sums)[keep]
    low, span = mean_logit.min(), mean_logit.max() - mean_logit.min()

    def scale(values: np.ndarray) -> np.ndarray:
        return (values - low) / span if span > 0 else np.ones_like(values)

    curve = AccuracyCurve(x, scale(mean_logit), mean_logit, totals.sum(axis=0)[keep])
    if bootstrap <= 0:
        return curve

    rng = np.random.default_rng(seed)
    resampled = np.empty((bootstrap, len(mean_logit)))
    for index in range(bootstrap):
        weights = np.bincount(
            rng.integers(0, len(ones), len(ones)), minlength=len(ones)
        ).astype(np.float64)
        means = _mean_over_dims(*_bin_sums(bins, logits, weights, size))
        resampled[index] = means[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bin empty in every resample
        band = np.nanpercentile(resampled, BAND_PERCENTILES, axis=0)
    band = np.where(np.isnan(band), mean_logit, band)
    curve.band_low, curve.band_high = scale(band[0]), scale(band[1])
    return curve
