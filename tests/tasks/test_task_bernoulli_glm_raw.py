"""Tests for the Bernoulli GLM task on raw spike trains against sbibm's definition."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import bernoulli_glm, bernoulli_glm_raw
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7, so the 100 bins and 99 bin pairs fail together
# with probability about 1e-4. The keys are fixed, so the tests are deterministic.
NUM_STANDARD_ERRORS = 5.0
# Every simulation batch in this file has this size, so each jitted function compiles once.
NUM_SAMPLES = 10_000

# An offset of -0.5 and a smooth filter, giving spike probabilities between 0.02 and 0.89.
THETA = np.array([-0.5, 1.0, 0.8, 0.4, 0.0, -0.3, -0.5, -0.4, -0.2, 0.0])


def _spike_probability() -> np.ndarray:
    """Compute sigmoid(X theta) for `THETA` in float64, shape `(100,)`."""
    design_matrix = bernoulli_glm.DESIGN_MATRIX.astype(np.float64)
    return 1.0 / (1.0 + np.exp(-design_matrix @ THETA))


@pytest.fixture(scope="module")
def task():
    return models.get_task("bernoulli_glm_raw")


@pytest.fixture(scope="module")
def spikes():
    batch = np.broadcast_to(THETA.astype(np.float32), (NUM_SAMPLES, 10))
    return np.asarray(bernoulli_glm_raw.simulate(jax.random.key(1), batch), dtype=np.float64)


def test_task_dimensions(task):
    assert isinstance(task, Task)
    assert task.name == bernoulli_glm_raw.NAME == "bernoulli_glm_raw"
    assert task.theta_dim == bernoulli_glm_raw.THETA_DIM == 10
    assert task.data_dim == bernoulli_glm_raw.DATA_DIM == 100
    assert task.observation.dtype == np.float32
    assert set(np.unique(task.observation)) <= {0.0, 1.0}
    assert task.reference_sampler is None
    assert "bernoulli_glm_raw" in models.list_tasks()


def test_prior_is_bernoulli_glm_prior():
    covariance = bernoulli_glm_raw.make_prior().covariance()

    np.testing.assert_array_equal(covariance, bernoulli_glm.make_prior().covariance())
    # The covariance is computed from a float32 scale matrix, and inverting it amplifies the
    # float32 rounding by the condition number, about 190, to errors near 1e-5 in precision
    # entries of size up to 8.3.
    np.testing.assert_allclose(
        np.linalg.inv(np.asarray(covariance, dtype=np.float64)),
        bernoulli_glm.prior_precision_matrix(),
        rtol=0.0,
        atol=1e-4,
    )


def test_spike_probabilities(spikes):
    probability = _spike_probability()
    bin_variance = probability * (1.0 - probability)

    assert spikes.shape == (NUM_SAMPLES, 100)
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    # Bin t spikes with probability sigmoid((X theta)_t), so its frequency has standard error
    # sqrt(z_t (1 - z_t) / n).
    frequency_error = np.abs(spikes.mean(axis=0) - probability) / np.sqrt(
        bin_variance / NUM_SAMPLES
    )
    assert np.max(frequency_error) < NUM_STANDARD_ERRORS


def test_spike_count_moments(spikes):
    probability = _spike_probability()
    bin_variance = probability * (1.0 - probability)
    counts = spikes.sum(axis=1)

    # The expected count is sum(z) and, for independent bins, its variance is
    # sigma^2 = sum(z (1 - z)). The sample variance has standard error
    # sqrt((mu_4 - sigma^4) / n), where mu_4 = sum(k_4) + 3 sigma^4 and the fourth cumulant
    # of Bernoulli(z) is k_4 = z (1 - z) (1 - 6 z (1 - z)).
    count_variance = bin_variance.sum()
    fourth_cumulant = np.sum(bin_variance * (1.0 - 6.0 * bin_variance))
    count_mean_error = abs(counts.mean() - probability.sum()) / np.sqrt(
        count_variance / NUM_SAMPLES
    )
    count_variance_error = abs(counts.var() - count_variance) / np.sqrt(
        (fourth_cumulant + 2.0 * count_variance**2) / NUM_SAMPLES
    )
    assert count_mean_error < NUM_STANDARD_ERRORS
    assert count_variance_error < NUM_STANDARD_ERRORS


def test_adjacent_bins_uncorrelated(spikes):
    probability = _spike_probability()
    bin_variance = probability * (1.0 - probability)
    centred = spikes - probability

    # Independent bins have zero covariance, and the estimate for bins t and t + 1 has
    # standard error sqrt(z_t (1 - z_t) z_{t+1} (1 - z_{t+1}) / n).
    adjacent_covariance = np.mean(centred[:, :-1] * centred[:, 1:], axis=0)
    standard_error = np.sqrt(bin_variance[:-1] * bin_variance[1:] / NUM_SAMPLES)
    assert np.max(np.abs(adjacent_covariance) / standard_error) < NUM_STANDARD_ERRORS


def test_observation_matches_summary_task(task):
    summary_task = bernoulli_glm.make_task()

    summary = bernoulli_glm.summarize_spikes(task.observation[None, :])[0]

    np.testing.assert_array_equal(np.asarray(summary), summary_task.observation)
    np.testing.assert_array_equal(
        bernoulli_glm_raw.true_parameters(), bernoulli_glm.true_parameters()
    )


def test_simulator_shape_dtype_and_jit():
    theta = bernoulli_glm_raw.make_prior().sample(
        seed=jax.random.key(2), sample_shape=(NUM_SAMPLES,)
    )

    data = bernoulli_glm_raw.simulate(jax.random.key(3), theta)
    jitted = jax.jit(bernoulli_glm_raw.simulate)(jax.random.key(3), theta)

    assert data.shape == (NUM_SAMPLES, 100)
    assert data.dtype == jnp.float32
    assert jitted.dtype == jnp.float32
    # A comparison u < sigmoid(psi) can flip where both sides agree to float32 rounding, if
    # compilation changes the rounding, so a few flips in the 1e6 bins are allowed.
    assert np.mean(np.asarray(jitted) != np.asarray(data)) < 1e-5


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 10\).*\(10,\)"):
        bernoulli_glm_raw.simulate(jax.random.key(0), jnp.zeros(10))
    with pytest.raises(ValueError, match=r"\(3, 9\)"):
        bernoulli_glm_raw.simulate(jax.random.key(0), jnp.zeros((3, 9)))


def test_default_observation_reproducible(task):
    prior_key, simulator_key = jax.random.split(jax.random.key(0))
    theta = task.prior.sample(seed=prior_key, sample_shape=(1,))
    expected = bernoulli_glm_raw.simulate(simulator_key, theta)[0]

    np.testing.assert_array_equal(task.observation, np.asarray(expected))
    np.testing.assert_array_equal(bernoulli_glm_raw.true_parameters(), np.asarray(theta[0]))
