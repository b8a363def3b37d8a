import numpy as np
import pytest
import torch

from ssvae.analysis import (
    LatentDensity,
    latent_walk,
    loss_ranking,
    percentile_of,
    score_faces,
    walk_images,
    walk_values,
)
from ssvae.attributes import (
    attribute_report,
    auroc,
    auroc_interval,
    correlations,
    dim_labels,
    precision_at_k,
    significant_correlation,
)
from ssvae.checkpoint import load_checkpoint
from ssvae.curve import _bin_sums, _mean_over_dims, accuracy_curve, bin_faces
from ssvae.data import FlatImageDataset, load_attributes
from ssvae.reference import Reference, build_reference
from ssvae.sources import BUNDLED_MODEL_DIR


@pytest.fixture(scope="module")
def model():
    loaded, _ = load_checkpoint(BUNDLED_MODEL_DIR)
    return loaded


@pytest.fixture(scope="module")
def scores(model, sample_root):
    dataset = FlatImageDataset(sample_root / "test", faces_only=True).subset(120)
    return score_faces(model, dataset, batch_size=64, progress=False)


def test_score_faces_keeps_model_state(model, sample_root):
    dataset = FlatImageDataset(sample_root / "test", faces_only=True).subset(8)
    model.train()
    try:
        score_faces(model, dataset, progress=False)
        assert model.training
    finally:
        model.eval()
    for parameter in model.parameters():
        assert parameter.is_contiguous()  # a channels-last conv weight is not


def test_score_faces_table(scores):
    table = scores.table
    assert len(table) == 120
    assert scores.z_means.shape == (120, 32)
    assert not table.isna().any().any()
    assert table["file"].str.match(r"^\d").all()
    assert (table["face_probability"] > 0.5).mean() > 0.95


def test_total_loss_adds_up(scores):
    table = scores.table
    classification = np.log1p(np.exp(-table["face_logit"]))
    expected = classification + table["reconstruction_loss"] + 0.0005 * table["kl"]
    assert np.allclose(table["total_loss"], expected, atol=1e-4)


def test_loss_ranking_orders_both_ends(scores):
    lowest, highest = loss_ranking(scores.table, count=10)
    assert len(lowest) == 10
    assert lowest["total_loss"].is_monotonic_increasing
    assert highest["total_loss"].is_monotonic_decreasing
    assert lowest["total_loss"].max() <= highest["total_loss"].min()


def test_walk_of_30_steps_gives_30_distinct_images(model, scores):
    baseline = torch.tensor(scores.z_means.mean(axis=0))
    before = baseline.clone()
    values = walk_values(scores.z_means, dim=0, steps=30)
    images = walk_images(model, baseline, 0, values)
    assert images.shape == (30, 128, 128, 3)
    assert images.dtype == np.uint8
    assert len({image.tobytes() for image in images}) == 30
    assert torch.equal(baseline, before)


def test_walk_changes_only_the_chosen_dim(model, scores):
    baseline = scores.z_means.mean(axis=0)
    values = np.array([-1.0, 1.0])
    decoded = latent_walk(model, baseline, 3, values)
    direct = model.decode(
        torch.tensor(np.stack([baseline, baseline]), dtype=torch.float32).index_put_(
            (torch.arange(2), torch.tensor([3, 3])), torch.tensor([-1.0, 1.0])
        )
    )
    assert torch.allclose(decoded, direct.detach(), atol=1e-5)


def test_walk_values_span_percentiles():
    z = np.arange(101, dtype=float).reshape(-1, 1)
    values = walk_values(z, 0, (5, 95), 10)
    assert values[0] == 5.0
    assert values[-1] == 95.0
    assert len(values) == 10


def test_constant_dim_gives_single_bin():
    z = np.stack([np.full(50, 0.7), np.linspace(-2, 2, 50)], axis=1)
    bins = bin_faces(z)
    assert np.unique(bins[:, 0]).tolist() == [15]
    assert len(np.unique(bins[:, 1])) == 31
    curve = accuracy_curve(z, np.linspace(0, 1, 50), dims=[0])
    assert curve.counts.tolist() == [50]
    assert curve.x.tolist() == pytest.approx([0.7])
    assert not np.isnan(curve.mean_logit).any()


def test_accuracy_curve_skips_empty_bins_and_normalises():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(size=(200, 2)), np.full((200, 1), 3.0)], axis=1)
    logits = z[:, 0] * 2.0  # higher latent value, higher logit
    curve = accuracy_curve(z, logits)
    assert not np.isnan(curve.relative_accuracy).any()
    assert curve.relative_accuracy.min() == 0.0
    assert curve.relative_accuracy.max() == 1.0
    assert (curve.counts > 0).all()
    assert len(curve.x) == len(curve.relative_accuracy)


def test_accuracy_curve_constant_dims_one_point():
    curve = accuracy_curve(np.zeros((10, 3)), np.ones(10))
    assert curve.relative_accuracy.tolist() == [1.0]
    assert curve.band_low.tolist() == [1.0]


def test_accuracy_curve_matches_hand_computed_bins():
    z = np.array([[-1.0], [-1.0], [0.0], [1.0], [1.0]])
    logits = np.array([0.0, 2.0, 5.0, 4.0, 6.0])
    curve = accuracy_curve(z, logits, percentiles=(0, 100), steps=3, bootstrap=0)
    assert curve.counts.tolist() == [2, 1, 2]  # edges -1, 0, 1: bins 1, 2, 3
    assert curve.mean_logit.tolist() == [1.0, 5.0, 5.0]
    assert curve.relative_accuracy.tolist() == [0.0, 1.0, 1.0]
    assert curve.band_low is None


def test_accuracy_band_zero_without_noise():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 1))
    bins = bin_faces(z)[:, 0]
    curve = accuracy_curve(z, bins * 0.5 - 3.0)  # same logit for all faces of a bin
    assert np.allclose(curve.band_low, curve.relative_accuracy)
    assert np.allclose(curve.band_high, curve.relative_accuracy)


def test_bootstrap_weights_match_explicit_resample():
    rng = np.random.default_rng(5)
    z, logits = rng.normal(size=(150, 4)), rng.normal(size=(150, 1))
    bins = bin_faces(z)
    sample = rng.integers(0, 150, 150)
    weights = np.bincount(sample, minlength=150).astype(np.float64)
    weighted = _mean_over_dims(*_bin_sums(bins, logits, weights, 31))
    explicit = _mean_over_dims(
        *_bin_sums(bins[sample], logits[sample], np.ones(150), 31)
    )
    assert np.allclose(weighted, explicit, equal_nan=True)
    assert np.isfinite(weighted).sum() > 20


def test_accuracy_band_narrows_with_more_faces():
    rng = np.random.default_rng(2)

    def mean_band_width(faces: int) -> float:
        z = rng.normal(size=(faces, 4))
        logits = 2.0 * z[:, 0] + rng.normal(size=faces)
        curve = accuracy_curve(z, logits)
        assert np.isfinite(curve.band_low).all()
        assert (curve.band_low <= curve.band_high).all()
        return float((curve.band_high - curve.band_low).mean())

    assert mean_band_width(4000) < 0.5 * mean_band_width(250)


def test_accuracy_band_same_seed_same_band():
    rng = np.random.default_rng(3)
    z, logits = rng.normal(size=(200, 3)), rng.normal(size=200)
    first, second = accuracy_curve(z, logits), accuracy_curve(z, logits)
    assert np.array_equal(first.band_low, second.band_low)
    assert not np.array_equal(
        first.band_high, accuracy_curve(z, logits, seed=1).band_high
    )


def test_rare_latent_has_lower_density():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 4))
    density = LatentDensity.fit(z)
    typical, rare = density.log_density(np.array([[0.0] * 4, [3.5] * 4]))
    assert rare < typical
    assert np.isfinite(density.log_density(np.array([[50.0] * 4]))).all()


def test_percentile_of():
    assert percentile_of(5, np.arange(10)) == 60.0


def test_auroc_of_perfect_score_is_one():
    labels = np.array([0, 0, 1, 1])
    assert auroc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auroc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0


def test_auroc_of_single_class_is_nan():
    assert np.isnan(auroc(np.ones(4), np.arange(4)))


def test_auroc_interval_hand_computed():
    labels = np.array([1, 1, 0, 0])
    score = np.array([0.9, 0.4, 0.5, 0.1])  # AUROC 0.75
    # Shares: positives 1.0 and 0.5, negatives 0.5 and 1.0, so the variance is
    # 0.125 / 2 + 0.125 / 2 and the half-width 1.96 * sqrt(0.125).
    low, high = auroc_interval(labels, score)
    assert low == pytest.approx(0.75 - 1.959964 * np.sqrt(0.125))
    assert high == 1.0


def test_auroc_interval_perfect_score():
    labels = np.array([0, 0, 1, 1])
    assert auroc_interval(labels, np.array([0.1, 0.2, 0.8, 0.9])) == (1.0, 1.0)


def test_auroc_interval_needs_two_per_class():
    low, high = auroc_interval(np.array([1, 0, 0, 0]), np.arange(4.0))
    assert np.isnan(low)
    assert np.isnan(high)


def test_auroc_interval_covers_chance():
    rng = np.random.default_rng(4)
    labels = np.arange(500) < 100
    covered = [
        low <= 0.5 <= high
        for low, high in (
            auroc_interval(labels, rng.normal(size=500)) for _ in range(400)
        )
    ]
    assert 0.92 <= np.mean(covered) <= 0.98


def test_auroc_interval_matches_bootstrap_unbalanced():
    rng = np.random.default_rng(6)
    labels = np.arange(330) < 30  # 30 positives, 300 negatives
    score = rng.normal(size=330) + 0.8 * labels
    low, high = auroc_interval(labels, score)
    aurocs = []
    for _ in range(2000):
        positives = rng.choice(np.flatnonzero(labels), 30)
        negatives = rng.choice(np.flatnonzero(~labels), 300)
        picked = np.concatenate([positives, negatives])
        aurocs.append(auroc(labels[picked], score[picked]))
    bootstrap_width = 2 * 1.959964 * np.std(aurocs)
    assert high - low == pytest.approx(bootstrap_width, rel=0.15)


def test_precision_at_k():
    labels = np.array([1, 0, 1, 0, 0])
    assert precision_at_k(labels, np.array([5, 4, 3, 2, 1]), 2) == 0.5
    assert precision_at_k(labels, np.array([5, 1, 4, 2, 3]), 2) == 1.0


def test_correlations_match_numpy():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(100, 3))
    attributes = (z[:, :1] + rng.normal(size=(100, 1)) > 0).astype(float)
    r = correlations(z, attributes)
    assert r.shape == (1, 3)
    assert r[0, 0] == pytest.approx(np.corrcoef(attributes[:, 0], z[:, 0])[0, 1])


def test_constant_attribute_correlates_zero():
    r = correlations(np.random.default_rng(0).normal(size=(10, 2)), np.ones((10, 1)))
    assert r.tolist() == [[0.0, 0.0]]


def test_dim_labels_need_meaningful_correlation():
    r = np.array([[0.5, 0.1], [-0.2, -0.05]])
    assert dim_labels(r, ["Smiling", "Male"], faces=1000) == {0: "Smiling, r = 0.50"}


def test_dim_labels_need_enough_faces():
    r = np.array([[0.5, 0.1], [-0.2, -0.05]])
    assert dim_labels(r, ["Smiling", "Male"], faces=20) == {}
    assert dim_labels(np.array([[1.0]]), ["Smiling"], faces=2) == {}


def test_significant_correlation_matches_table():
    # Critical r of a two-sided test at 0.05 with 28 degrees of freedom: 0.361.
    assert significant_correlation(30, tests=1) == pytest.approx(0.361, abs=1e-3)
    assert significant_correlation(30, tests=100) > 0.361


def test_attribute_report_on_real_faces(scores, sample_root):
    attributes = load_attributes(sample_root / "celeba_attributes.csv")
    table, r = attribute_report(scores, attributes, k=20)
    assert len(table) == 40
    assert r.shape == (40, 32)
    ranked = table[table[["faces_with", "faces_without"]].min(axis=1) >= 10]
    assert len(ranked) > 20
    assert table.drop(ranked.index)["auroc_low_density"].isna().all()
    for score in ("auroc_low_density", "auroc_high_loss"):
        assert ranked[score].between(0, 1).all()
        assert (ranked[f"{score}_ci_low"] <= ranked[score]).all()
        assert (ranked[score] <= ranked[f"{score}_ci_high"]).all()
    male = table.set_index("attribute").loc["Male"]
    expected = attributes.loc[scores.table["file"], "Male"].mean()
    assert male["prevalence"] == pytest.approx(expected)


def test_attribute_report_few_faces_not_ranked(scores, sample_root):
    attributes = load_attributes(sample_root / "celeba_attributes.csv")
    few = attributes.loc[scores.table["file"].iloc[:3]]
    table, r = attribute_report(scores, few)
    assert (table["faces_with"] + table["faces_without"] == 3).all()
    assert table["auroc_low_density"].isna().all()
    assert table["auroc_high_loss_ci_low"].isna().all()
    assert dim_labels(r, list(table["attribute"]), faces=3) == {}


def test_reference_round_trip(scores, sample_root, tmp_path):
    attributes = load_attributes(sample_root / "celeba_attributes.csv")
    table, r = attribute_report(scores, attributes)
    reference = build_reference(
        scores, sample_root / "test", table, r, gallery_size=5, description="test"
    )
    reference.save(tmp_path)
    loaded = Reference.load(tmp_path)
    assert np.array_equal(loaded.scores.z_means, scores.z_means.astype(np.float32))
    assert loaded.scores.table["file"].tolist() == scores.table["file"].tolist()
    assert loaded.attribute_table["attribute"].tolist() == table["attribute"].tolist()
    indices, thumbnails = loaded.galleries["highest_loss"]
    assert thumbnails.shape == (5, 48, 48, 3)
    assert indices[0] == scores.table["total_loss"].argmax()
    assert loaded.description == "test"
    assert np.array_equal(loaded.curve.band_low, reference.curve.band_low)
    assert np.array_equal(loaded.curve.band_high, reference.curve.band_high)


def test_old_reference_counts_labelled_faces(scores, sample_root):
    attributes = load_attributes(sample_root / "celeba_attributes.csv")
    table, r = attribute_report(scores, attributes)
    reference = build_reference(scores, sample_root / "test", table, r, gallery_size=1)
    labels = reference.dim_labels()
    reference.attribute_table = table.drop(columns="faces_without")
    assert reference.dim_labels() == labels


def test_reference_without_band_loads(scores, sample_root, tmp_path):
    reference = build_reference(scores, sample_root / "test", gallery_size=1)
    reference.curve.band_low = reference.curve.band_high = None
    reference.save(tmp_path)
    loaded = Reference.load(tmp_path)
    assert loaded.curve.band_low is None
    assert np.array_equal(loaded.curve.x, reference.curve.x)


def test_reference_locate_percentiles(scores, sample_root):
    reference = build_reference(scores, sample_root / "test", gallery_size=1)
    table = scores.table
    hardest = table["reconstruction_loss"].idxmax()
    place = reference.locate(
        float(table["reconstruction_loss"][hardest]), scores.z_means[hardest]
    )
    assert place["reconstruction_loss_percentile"] == 100.0
    assert place["log_density"] == pytest.approx(table["log_density"][hardest])
