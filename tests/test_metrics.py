"""Tests for the C2ST and MMD sample metrics."""

import math
import warnings

import numpy as np
import pytest

from ssnl.metrics import c2st, mmd


def _normal(seed, num_samples, dim, shift=0.0):
    return np.random.default_rng(seed).normal(size=(num_samples, dim)) + shift


def test_c2st_same_distribution_near_half():
    reference = _normal(0, 1000, 2)
    samples = _normal(1, 1000, 2)

    score = c2st(reference, samples)

    # Over 2000 test points the accuracy of a chance-level classifier has binomial standard
    # deviation sqrt(0.25 / 2000) = 0.011. The tolerance of 0.05 is about 4.5 of those, and
    # leaves room for the small bias of a classifier that overfits noise.
    assert isinstance(score, float)
    assert abs(score - 0.5) < 0.05


def test_c2st_disjoint_samples_near_one():
    reference = _normal(0, 1000, 1)
    samples = _normal(1, 1000, 1, shift=20.0)

    assert c2st(reference, samples) > 0.99


def test_c2st_shifted_normal_matches_bayes_accuracy():
    shift = 1.0
    reference = _normal(2, 1000, 1)
    samples = _normal(3, 1000, 1, shift=shift)

    score = c2st(reference, samples)

    # The best classifier for N(0, 1) against N(d, 1) with equal class sizes thresholds at
    # d / 2, with accuracy Phi(d / 2) = 0.691 for d = 1. The binomial standard deviation of
    # the accuracy over 2000 points is sqrt(0.691 * 0.309 / 2000) = 0.010, so the tolerance
    # of 0.04 is about 4 of those, plus a small margin for a sub-optimal classifier.
    bayes_accuracy = 0.5 * (1.0 + math.erf(shift / 2.0 / math.sqrt(2.0)))
    assert bayes_accuracy == pytest.approx(0.6915, abs=1e-4)
    assert abs(score - bayes_accuracy) < 0.04


def test_c2st_fixed_seed_is_deterministic():
    reference = _normal(4, 200, 2)
    samples = _normal(5, 200, 2, shift=0.5)

    first = c2st(reference, samples, seed=7)
    second = c2st(reference, samples, seed=7)

    assert first == second


def test_c2st_short_budget_does_not_warn():
    # One epoch stops before MLPClassifier's `tol` criterion is met, so scikit-learn emits
    # ConvergenceWarning inside c2st. The metric filters it, so no warning reaches the caller.
    reference = _normal(8, 50, 2)
    samples = _normal(9, 50, 2)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = c2st(reference, samples, max_iter=1)

    assert 0.0 <= score <= 1.0


def test_c2st_z_scores_with_reference_statistics():
    # Scaling and shifting both sets with the same affine map of each column leaves the
    # z-scored features, and therefore the score, unchanged.
    reference = _normal(6, 200, 2)
    samples = _normal(7, 200, 2, shift=0.5)
    scale = np.array([1000.0, 0.001])
    offset = np.array([-50.0, 3.0])

    original = c2st(reference, samples, max_iter=200)
    transformed = c2st(reference * scale + offset, samples * scale + offset, max_iter=200)

    assert transformed == pytest.approx(original, abs=1e-12)


@pytest.mark.parametrize(
    ("reference", "samples", "message"),
    [
        (np.zeros(10), np.zeros((10, 1)), r"reference must be a 2-D array.*\(10,\)"),
        (np.ones((10, 1)), np.zeros((10, 1, 1)), r"samples must be a 2-D array.*\(10, 1, 1\)"),
        (_normal(0, 10, 2), _normal(1, 10, 3), r"same number of columns.*\(10, 2\).*\(10, 3\)"),
        (_normal(0, 4, 2), _normal(1, 10, 2), r"reference must have at least 5 rows.*\(4, 2\)"),
        (_normal(0, 10, 2), _normal(1, 3, 2), r"samples must have at least 5 rows.*\(3, 2\)"),
        (np.zeros((10, 0)), np.zeros((10, 0)), r"at least one column"),
    ],
)
def test_c2st_invalid_shapes_raise(reference, samples, message):
    with pytest.raises(ValueError, match=message):
        c2st(reference, samples)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_c2st_non_finite_values_raise(bad_value):
    samples = _normal(1, 10, 2)
    samples[3, 1] = bad_value

    with pytest.raises(ValueError, match=r"samples of shape \(10, 2\) contains NaN or Inf"):
        c2st(_normal(0, 10, 2), samples)


def test_c2st_constant_reference_column_raises():
    reference = _normal(0, 10, 2)
    reference[:, 1] = 3.0

    with pytest.raises(ValueError, match=r"constant in columns \[1\]"):
        c2st(reference, _normal(1, 10, 2))


def test_c2st_invalid_options_raise():
    reference = _normal(0, 10, 2)
    samples = _normal(1, 10, 2)

    with pytest.raises(ValueError, match="num_folds must be at least 2"):
        c2st(reference, samples, num_folds=1)
    with pytest.raises(ValueError, match="max_iter must be at least 1"):
        c2st(reference, samples, max_iter=0)


def test_mmd_same_distribution_near_zero():
    value = mmd(_normal(10, 500, 2), _normal(11, 500, 2))

    # Measured over 50 independent pairs of such samples, the estimate had standard
    # deviation 0.0013, so 0.01 is more than 7 of those.
    assert abs(value) < 0.01


def test_mmd_shifted_distribution_positive():
    value = mmd(_normal(12, 500, 2), _normal(13, 500, 2, shift=1.0))

    # Measured over 5 independent pairs, the estimate was between 0.18 and 0.23.
    assert value > 0.1


def test_mmd_matches_hand_computation():
    x = np.array([[0.0], [1.0]])
    y = np.array([[0.0], [2.0]])

    # Pooled pairwise distances are 0, 1, 1, 1, 2, 2, so the median heuristic gives 1.
    # With k(a, b) = exp(-(a - b)^2 / 2): within x the mean is exp(-1/2), within y exp(-2),
    # and between the mean is (1 + exp(-2) + 2 exp(-1/2)) / 4.
    expected = 0.5 * math.exp(-2.0) - 0.5

    assert mmd(x, y) == pytest.approx(expected, rel=1e-12)
    assert mmd(x, y, bandwidth=1.0) == pytest.approx(expected, rel=1e-12)


def test_mmd_is_symmetric():
    x = _normal(14, 50, 3)
    y = _normal(15, 70, 3, shift=0.3)

    assert mmd(x, y) == pytest.approx(mmd(y, x), rel=1e-12)


def test_mmd_invalid_inputs_raise():
    with pytest.raises(ValueError, match=r"x must have at least 2 rows.*\(1, 2\)"):
        mmd(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"same number of columns.*\(5, 2\).*\(5, 3\)"):
        mmd(_normal(0, 5, 2), _normal(1, 5, 3))
    with pytest.raises(ValueError, match=r"y must be a 2-D array"):
        mmd(_normal(0, 5, 2), np.zeros(5))
    with pytest.raises(ValueError, match=r"y of shape \(5, 2\) contains NaN or Inf"):
        mmd(_normal(0, 5, 2), np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="bandwidth must be a positive finite number"):
        mmd(_normal(0, 5, 2), _normal(1, 5, 2), bandwidth=0.0)
    with pytest.raises(ValueError, match="median heuristic gave bandwidth 0"):
        mmd(np.zeros((5, 2)), np.zeros((5, 2)))
