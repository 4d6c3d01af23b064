"""Tests for the Gaussian linear uniform task against sbibm's definition."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import gaussian_linear_uniform as task_module
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7, so even the 200 entries of the sbibm comparison
# fail together with probability about 1e-4. The keys are fixed, so the tests are
# deterministic.
NUM_STANDARD_ERRORS = 5.0
# The size of sbibm's reference sample sets. Every sample array in this file has this length,
# so each jitted function compiles once.
NUM_SAMPLES = 10_000

# An observation with coordinates inside, on the edge of and far outside the box [-1, 1], so
# that the truncation ranges from negligible to severe.
EDGE_OBSERVATION = np.array(
    [2.3, -2.0, 1.2, -1.1, 0.9, 0.0, -0.5, 1.6, -1.4, 1.0], dtype=np.float32
)


def _sbibm_files() -> Path | None:
    """Return sbibm's folder of task files, or None when sbibm is not installed."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tasks" / task_module.NAME / "files"


def _truncated_moments(observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate the unnormalised posterior of each coordinate on a grid over [-1, 1].

    Returns the mean, the variance and the fourth central moment of each coordinate. The
    posterior factorizes over coordinates, so one-dimensional trapezoid integration of
    exp(-(t - y_i)^2 / (2 * 0.1)) suffices. With 20001 nodes the step is 1e-4, about 3e-4
    standard deviations, so the quadrature error is far below the Monte Carlo error.
    """
    grid = np.linspace(-1.0, 1.0, 20_001)
    means, variances, fourth_moments = [], [], []
    for y in np.asarray(observation, dtype=np.float64):
        log_density = -0.5 * (grid - y) ** 2 / task_module.NOISE_VARIANCE
        density = np.exp(log_density - log_density.max())
        normalizer = np.trapezoid(density, grid)
        mean = np.trapezoid(grid * density, grid) / normalizer
        variance = np.trapezoid((grid - mean) ** 2 * density, grid) / normalizer
        fourth = np.trapezoid((grid - mean) ** 4 * density, grid) / normalizer
        means.append(mean)
        variances.append(variance)
        fourth_moments.append(fourth)
    return np.array(means), np.array(variances), np.array(fourth_moments)


@pytest.fixture(scope="module")
def task():
    return models.get_task("gaussian_linear_uniform")


def test_task_dimensions(task):

    assert isinstance(task, Task)
    assert task.name == task_module.NAME == "gaussian_linear_uniform"
    assert task.theta_dim == task_module.THETA_DIM == 10
    assert task.data_dim == task_module.DATA_DIM == 10
    assert task.observation.dtype == np.float32
    assert task.reference_sampler is not None
    assert "gaussian_linear_uniform" in models.list_tasks()


def test_prior_support_and_moments():
    prior = task_module.make_prior()
    samples = np.asarray(prior.sample(seed=jax.random.key(1), sample_shape=(NUM_SAMPLES,)))

    assert tuple(prior.event_shape) == (10,)
    assert samples.shape == (NUM_SAMPLES, 10)
    assert samples.dtype == np.float32
    assert np.all(samples >= -1.0)
    assert np.all(samples <= 1.0)
    # U(-1, 1) has mean 0 and variance 1/3, and t^2 has variance 1/5 - 1/9 = 4/45.
    mean_error = np.abs(samples.mean(axis=0)) / np.sqrt(1.0 / 3.0 / NUM_SAMPLES)
    variance_error = np.abs(np.mean(samples.astype(np.float64) ** 2, axis=0) - 1.0 / 3.0) / (
        np.sqrt(4.0 / 45.0 / NUM_SAMPLES)
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(variance_error) < NUM_STANDARD_ERRORS


def test_prior_log_prob_outside_box():
    prior = task_module.make_prior()
    inside = jnp.full((10,), 0.5)
    outside = inside.at[3].set(1.5)

    np.testing.assert_allclose(prior.log_prob(inside), -10.0 * np.log(2.0), rtol=1e-6)
    assert prior.log_prob(outside) == -np.inf


def test_simulation_moments():
    # sbibm passes simulator_scale=0.1 as the precision matrix inv(0.1 I), so the noise
    # covariance is 0.1 I.
    theta = np.linspace(-0.9, 0.9, 10, dtype=np.float32)
    batch = np.broadcast_to(theta, (NUM_SAMPLES, 10))

    data = np.asarray(task_module.simulate(jax.random.key(2), batch), dtype=np.float64)

    mean_error = np.abs(data.mean(axis=0) - theta) / np.sqrt(0.1 / NUM_SAMPLES)
    # For Gaussian data the sample covariance entry (a, b) has standard error
    # sqrt((S_aa S_bb + S_ab^2) / n), here sqrt(0.02 / n) on and sqrt(0.01 / n) off the diagonal.
    covariance_error = np.abs(np.cov(data, rowvar=False) - 0.1 * np.eye(10)) / np.sqrt(
        (0.01 + 0.01 * np.eye(10)) / NUM_SAMPLES
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(covariance_error) < NUM_STANDARD_ERRORS


def test_simulator_shape_dtype_and_jit():
    theta = task_module.make_prior().sample(seed=jax.random.key(3), sample_shape=(NUM_SAMPLES,))

    data = task_module.simulate(jax.random.key(4), theta)
    jitted = jax.jit(task_module.simulate)(jax.random.key(4), theta)

    assert data.shape == (NUM_SAMPLES, 10)
    assert data.dtype == jnp.float32
    assert jitted.dtype == jnp.float32
    np.testing.assert_allclose(jitted, data, rtol=1e-6, atol=1e-6)


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 10\).*\(10,\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros(10))
    with pytest.raises(ValueError, match=r"\(3, 9\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros((3, 9)))


def test_default_observation_reproducible(task):
    prior_key, simulator_key = jax.random.split(jax.random.key(0))
    theta = task.prior.sample(seed=prior_key, sample_shape=(1,))
    expected = task_module.simulate(simulator_key, theta)[0]

    np.testing.assert_array_equal(task.observation, np.asarray(expected))
    np.testing.assert_array_equal(task_module.true_parameters(), np.asarray(theta[0]))


@pytest.mark.parametrize("observation_name", ["edge", "default"])
def test_reference_matches_quadrature(task, observation_name):
    observation = EDGE_OBSERVATION if observation_name == "edge" else task.observation
    mean, variance, fourth_moment = _truncated_moments(observation)

    samples = task_module.sample_reference_posterior(jax.random.key(5), observation, NUM_SAMPLES)
    samples = np.asarray(samples, dtype=np.float64)

    assert samples.shape == (NUM_SAMPLES, 10)
    assert np.all(np.abs(samples) <= 1.0)
    mean_error = np.abs(samples.mean(axis=0) - mean) / np.sqrt(variance / NUM_SAMPLES)
    # The sample variance has standard error sqrt((mu_4 - sigma^4) / n) to first order.
    variance_error = np.abs(samples.var(axis=0) - variance) / np.sqrt(
        (fourth_moment - variance**2) / NUM_SAMPLES
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(variance_error) < NUM_STANDARD_ERRORS
    # The coordinates are independent, so their sample correlations are near 0, with
    # standard error 1 / sqrt(n).
    correlation = np.corrcoef(samples, rowvar=False) - np.eye(10)
    assert np.max(np.abs(correlation)) < NUM_STANDARD_ERRORS / np.sqrt(NUM_SAMPLES)


def test_reference_sampler_of_task(task):
    samples = task.reference_sampler(jax.random.key(6), 5)
    again = task.reference_sampler(jax.random.key(6), 5)

    assert samples.shape == (5, 10)
    assert samples.dtype == jnp.float32
    np.testing.assert_array_equal(samples, again)


def test_reference_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"observation must have shape \(10,\), got shape \(2\,"):
        task_module.sample_reference_posterior(jax.random.key(0), np.zeros((2, 10)), 5)
    with pytest.raises(ValueError, match="observation must be finite"):
        task_module.sample_reference_posterior(jax.random.key(0), np.full(10, np.nan), 5)
    with pytest.raises(ValueError, match="num_samples must be at least 1, got 0"):
        task_module.sample_reference_posterior(jax.random.key(0), np.zeros(10), 0)


@pytest.mark.skipif(_sbibm_files() is None, reason="sbibm is not installed")
def test_reference_matches_sbibm_samples():
    # sbibm's reference samples for its 10 observations were drawn by rejection from
    # N(y, 0.1 I). The two-sample standard error combines the variances of both sample sets.
    for number in range(1, 11):
        folder = _sbibm_files() / f"num_observation_{number}"
        observation = np.loadtxt(folder / "observation.csv", delimiter=",", skiprows=1)
        sbibm_samples = np.loadtxt(
            folder / "reference_posterior_samples.csv.bz2", delimiter=",", skiprows=1
        )

        assert sbibm_samples.shape == (NUM_SAMPLES, 10)

        samples = task_module.sample_reference_posterior(
            jax.random.key(100 + number), observation, NUM_SAMPLES
        )
        samples = np.asarray(samples, dtype=np.float64)

        standard_error = np.sqrt((samples.var(axis=0) + sbibm_samples.var(axis=0)) / NUM_SAMPLES)
        mean_error = np.abs(samples.mean(axis=0) - sbibm_samples.mean(axis=0)) / standard_error
        assert np.max(mean_error) < NUM_STANDARD_ERRORS, f"observation {number}"
        # Both variances are below 0.1, and the ratio of two sample variances of n draws has
        # standard deviation about sqrt(4 / n) = 0.02 for close to Gaussian data.
        variance_ratio = samples.var(axis=0) / sbibm_samples.var(axis=0)
        assert np.max(np.abs(variance_ratio - 1.0)) < NUM_STANDARD_ERRORS * 0.02, (
            f"observation {number}"
        )
