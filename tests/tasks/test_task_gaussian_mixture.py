"""Tests for the Gaussian mixture task against sbibm's definition, and for the truncated normal
sampler that its reference posterior uses."""

import importlib.util
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import _truncated_normal
from models import gaussian_mixture as task_module
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7, so even the 60 entries of the sbibm comparison
# fail together with probability below 1e-4. The keys are fixed, so the tests are
# deterministic.
NUM_STANDARD_ERRORS = 5.0
# The size of sbibm's reference sample sets. Every sample array in this file has this length,
# so each jitted function compiles once.
NUM_SAMPLES = 10_000

# E[s^2] and E[s^4] for the component standard deviation s, which is 1 or 0.1 with
# probability 1/2 each in sbibm's simulator.
SCALE_SECOND_MOMENT = 0.5 * 1.0**2 + 0.5 * 0.1**2
SCALE_FOURTH_MOMENT = 0.5 * 1.0**4 + 0.5 * 0.1**4
SCALE_EIGHTH_MOMENT = 0.5 * 1.0**8 + 0.5 * 0.1**8


def _sbibm_files() -> Path | None:
    """Return sbibm's folder of task files, or None when sbibm is not installed."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tasks" / task_module.NAME / "files"


def _axis_nodes(center: float) -> np.ndarray:
    """Quadrature nodes on [-10, 10]: step 0.004 within 0.8 of `center`, 0.04 elsewhere.

    Both steps are 0.04 standard deviations of the component they resolve, so the trapezoid
    error is at most about 0.04^2 / 12 = 1.3e-4 relative, far below the Monte Carlo error.
    """
    coarse = np.linspace(-10.0, 10.0, 501)
    fine = np.linspace(center - 0.8, center + 0.8, 401)
    fine = fine[(fine > -10.0) & (fine < 10.0)]
    return np.unique(np.concatenate([coarse, fine]))


def _posterior_moments(observation: np.ndarray) -> dict[str, np.ndarray]:
    """Integrate the unnormalised posterior on a 2-D grid over the prior box.

    The density is 0.5 N(theta; x, I) + 0.5 N(theta; x, 0.01 I) inside the box. Returns the
    mean, the covariance, and the variance of each product of centred coordinates, which sets
    the standard error of the sample covariance.
    """
    nodes = [_axis_nodes(float(center)) for center in observation]
    grid_0, grid_1 = np.meshgrid(*nodes, indexing="ij")
    squared_distance = (grid_0 - observation[0]) ** 2 + (grid_1 - observation[1]) ** 2
    density = 0.5 * np.exp(-0.5 * squared_distance) / (2.0 * np.pi)
    density += 0.5 * np.exp(-0.5 * squared_distance / 0.01) / (2.0 * np.pi * 0.01)

    def integrate(values):
        return np.trapezoid(np.trapezoid(values, nodes[1], axis=1), nodes[0])

    normalizer = integrate(density)
    mean = np.array([integrate(grid * density) for grid in (grid_0, grid_1)]) / normalizer
    centred = [grid_0 - mean[0], grid_1 - mean[1]]
    covariance = np.empty((2, 2))
    product_variance = np.empty((2, 2))
    for a in range(2):
        for b in range(2):
            product = centred[a] * centred[b]
            covariance[a, b] = integrate(product * density) / normalizer
            second_moment = integrate(product**2 * density) / normalizer
            product_variance[a, b] = second_moment - covariance[a, b] ** 2
    return {"mean": mean, "covariance": covariance, "product_variance": product_variance}


@pytest.fixture(scope="module")
def task():
    return models.get_task("gaussian_mixture")


def test_task_dimensions(task):
    assert isinstance(task, Task)
    assert task.name == task_module.NAME == "gaussian_mixture"
    assert task.theta_dim == task_module.THETA_DIM == 2
    assert task.data_dim == task_module.DATA_DIM == 2
    assert task.observation.dtype == np.float32
    assert task.reference_sampler is not None
    assert "gaussian_mixture" in models.list_tasks()


def test_prior_support_and_moments():
    prior = task_module.make_prior()
    samples = np.asarray(prior.sample(seed=jax.random.key(1), sample_shape=(NUM_SAMPLES,)))

    assert tuple(prior.event_shape) == (2,)
    assert samples.dtype == np.float32
    assert np.all(samples >= -10.0)
    assert np.all(samples <= 10.0)
    # U(-10, 10) has mean 0 and variance 100/3, and t^2 has variance 10^4 (1/5 - 1/9).
    mean_error = np.abs(samples.mean(axis=0)) / np.sqrt(100.0 / 3.0 / NUM_SAMPLES)
    second_moment = np.mean(samples.astype(np.float64) ** 2, axis=0)
    variance_error = np.abs(second_moment - 100.0 / 3.0) / np.sqrt(
        1e4 * (1.0 / 5.0 - 1.0 / 9.0) / NUM_SAMPLES
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(variance_error) < NUM_STANDARD_ERRORS


def test_simulation_moments():
    theta = np.array([3.0, -7.5], dtype=np.float32)
    batch = np.broadcast_to(theta, (NUM_SAMPLES, 2))

    data = np.asarray(task_module.simulate(jax.random.key(2), batch), dtype=np.float64)
    residual = data - theta

    # Each coordinate is theta_i + s * noise, so it has mean theta_i and variance
    # E[s^2] = 0.5 * 1 + 0.5 * 0.01. The squared residual has variance 3 E[s^4] - E[s^2]^2.
    mean_error = np.abs(residual.mean(axis=0)) / np.sqrt(SCALE_SECOND_MOMENT / NUM_SAMPLES)
    variance_error = np.abs(np.mean(residual**2, axis=0) - SCALE_SECOND_MOMENT) / np.sqrt(
        (3.0 * SCALE_FOURTH_MOMENT - SCALE_SECOND_MOMENT**2) / NUM_SAMPLES
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(variance_error) < NUM_STANDARD_ERRORS

    # The fourth moment 3 E[s^4] = 1.5 separates the mixture from a Gaussian of the same
    # variance (3 * 0.505^2 = 0.77). Its estimate has variance 105 E[s^8] - (3 E[s^4])^2.
    fourth_moment = np.mean(residual**4, axis=0)
    fourth_moment_error = np.abs(fourth_moment - 3.0 * SCALE_FOURTH_MOMENT) / np.sqrt(
        (105.0 * SCALE_EIGHTH_MOMENT - 9.0 * SCALE_FOURTH_MOMENT**2) / NUM_SAMPLES
    )
    assert np.max(fourth_moment_error) < NUM_STANDARD_ERRORS


def test_simulation_shares_component_across_coordinates():
    theta = np.array([-4.0, 6.0], dtype=np.float32)
    batch = np.broadcast_to(theta, (NUM_SAMPLES, 2))

    residual = np.asarray(task_module.simulate(jax.random.key(3), batch), dtype=np.float64) - theta

    # With one scale s per simulation, E[r_0 r_1] = 0 with variance E[s^4], and
    # E[r_0^2 r_1^2] = E[s^4] = 0.50005 with variance 9 E[s^8] - E[s^4]^2. Independent
    # components per coordinate would give E[s^2]^2 = 0.255 instead.
    product = residual[:, 0] * residual[:, 1]
    assert abs(product.mean()) / np.sqrt(SCALE_FOURTH_MOMENT / NUM_SAMPLES) < NUM_STANDARD_ERRORS
    squared_product_error = abs(np.mean(product**2) - SCALE_FOURTH_MOMENT) / np.sqrt(
        (9.0 * SCALE_EIGHTH_MOMENT - SCALE_FOURTH_MOMENT**2) / NUM_SAMPLES
    )
    assert squared_product_error < NUM_STANDARD_ERRORS


def test_simulator_shape_dtype_and_jit():
    theta = task_module.make_prior().sample(seed=jax.random.key(4), sample_shape=(NUM_SAMPLES,))

    data = task_module.simulate(jax.random.key(5), theta)
    jitted = jax.jit(task_module.simulate)(jax.random.key(5), theta)

    assert data.shape == (NUM_SAMPLES, 2)
    assert data.dtype == jnp.float32
    assert jitted.dtype == jnp.float32
    np.testing.assert_allclose(jitted, data, rtol=1e-6, atol=1e-6)


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 2\).*\(2,\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros((3, 3)))


def test_default_observation_reproducible(task):
    prior_key, simulator_key = jax.random.split(jax.random.key(0))
    theta = task.prior.sample(seed=prior_key, sample_shape=(1,))
    expected = task_module.simulate(simulator_key, theta)[0]

    np.testing.assert_array_equal(task.observation, np.asarray(expected))
    np.testing.assert_array_equal(task_module.true_parameters(), np.asarray(theta[0]))


# "interior": truncation is negligible. "edge": both components lose mass to the box edges,
# the narrow one less, so its posterior weight rises from 0.5 to about 0.69. "outside": the
# narrow component lies 20 of its standard deviations outside the box and gets weight 0.
REFERENCE_OBSERVATIONS = {
    "interior": np.array([1.3, -2.4], dtype=np.float32),
    "edge": np.array([9.8, -9.95], dtype=np.float32),
    "outside": np.array([12.0, 0.5], dtype=np.float32),
}


@pytest.mark.parametrize("observation_name", sorted(REFERENCE_OBSERVATIONS))
def test_reference_matches_quadrature(observation_name):
    observation = REFERENCE_OBSERVATIONS[observation_name]
    expected = _posterior_moments(observation.astype(np.float64))

    samples = task_module.sample_reference_posterior(jax.random.key(6), observation, NUM_SAMPLES)
    samples = np.asarray(samples, dtype=np.float64)

    assert samples.shape == (NUM_SAMPLES, 2)
    assert np.all(np.abs(samples) <= 10.0)
    mean_error = np.abs(samples.mean(axis=0) - expected["mean"]) / np.sqrt(
        np.diag(expected["covariance"]) / NUM_SAMPLES
    )
    centred = samples - expected["mean"]
    sample_covariance = centred.T @ centred / NUM_SAMPLES
    covariance_error = np.abs(sample_covariance - expected["covariance"]) / np.sqrt(
        expected["product_variance"] / NUM_SAMPLES
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(covariance_error) < NUM_STANDARD_ERRORS


def test_reference_sampler_of_task(task):
    samples = task.reference_sampler(jax.random.key(7), NUM_SAMPLES)
    again = task.reference_sampler(jax.random.key(7), NUM_SAMPLES)

    assert samples.shape == (NUM_SAMPLES, 2)
    assert samples.dtype == jnp.float32
    np.testing.assert_array_equal(samples, again)


def test_reference_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"observation must have shape \(2,\), got shape \(3,\)"):
        task_module.sample_reference_posterior(jax.random.key(0), np.zeros(3), 5)
    with pytest.raises(ValueError, match="observation must be finite"):
        task_module.sample_reference_posterior(jax.random.key(0), np.array([0.0, np.inf]), 5)
    with pytest.raises(ValueError, match="num_samples must be at least 1, got -1"):
        task_module.sample_reference_posterior(jax.random.key(0), np.zeros(2), -1)


@pytest.mark.skipif(_sbibm_files() is None, reason="sbibm is not installed")
def test_reference_matches_sbibm_samples():
    for number in range(1, 11):
        folder = _sbibm_files() / f"num_observation_{number}"
        observation = np.loadtxt(folder / "observation.csv", delimiter=",", skiprows=1)
        sbibm_samples = np.loadtxt(
            folder / "reference_posterior_samples.csv.bz2", delimiter=",", skiprows=1
        )
        assert sbibm_samples.shape == (NUM_SAMPLES, 2)

        samples = task_module.sample_reference_posterior(
            jax.random.key(100 + number), observation, NUM_SAMPLES
        )
        samples = np.asarray(samples, dtype=np.float64)

        # Two-sample standard error of the difference of means.
        variances = samples.var(axis=0), sbibm_samples.var(axis=0)
        standard_error = np.sqrt((variances[0] + variances[1]) / NUM_SAMPLES)
        mean_error = np.abs(samples.mean(axis=0) - sbibm_samples.mean(axis=0)) / standard_error
        assert np.max(mean_error) < NUM_STANDARD_ERRORS, f"observation {number}"

        # A sample variance has relative standard error sqrt((kurtosis - 1) / n), about 0.02 for
        # this heavy-tailed mixture. Each set's own kurtosis enters.
        kurtosis = [
            np.mean((values - values.mean(axis=0)) ** 4, axis=0) / values.var(axis=0) ** 2
            for values in (samples, sbibm_samples)
        ]
        ratio_error = np.abs(variances[0] / variances[1] - 1.0) / np.sqrt(
            (kurtosis[0] - 1.0 + kurtosis[1] - 1.0) / NUM_SAMPLES
        )
        assert np.max(ratio_error) < NUM_STANDARD_ERRORS, f"observation {number}"


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# Standardized intervals from the centre to 200 standard deviations out.
TRUNCATION_INTERVALS = [(-1.0, 1.0), (10.0, 12.0), (-30.0, -20.0), (5.0, 200.0), (-3.0, 200.0)]


@pytest.mark.parametrize(("low", "high"), TRUNCATION_INTERVALS)
def test_truncated_normal_log_mass(low, high):
    # math.erfc in float64 resolves both tails down to 1e-300. The log masses range from -204
    # to -0.0014, and a relative tolerance of 1e-5 allows about 100 float32 roundings.
    if low + high > 0:
        expected = math.log(_normal_cdf(-low) - _normal_cdf(-high))
    else:
        expected = math.log(_normal_cdf(high) - _normal_cdf(low))

    result = _truncated_normal.log_standard_normal_mass(jnp.float32(low), jnp.float32(high))

    np.testing.assert_allclose(float(result), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("low", "high"), TRUNCATION_INTERVALS)
def test_truncated_normal_moments(low, high):
    # The quadrature step is at most 200 / 2e5 = 1e-3 standard deviations, so its error is far
    # below the Monte Carlo error. The density is scaled by its value at the bound nearest 0,
    # which keeps it finite at 200 standard deviations.
    grid = np.linspace(low, high, 200_001)
    nearest = min(abs(low), abs(high)) if low * high > 0 else 0.0
    density = np.exp(-0.5 * (grid**2 - nearest**2))
    normalizer = np.trapezoid(density, grid)
    mean = np.trapezoid(grid * density, grid) / normalizer
    variance = np.trapezoid((grid - mean) ** 2 * density, grid) / normalizer
    fourth = np.trapezoid((grid - mean) ** 4 * density, grid) / normalizer

    samples = _truncated_normal.sample_truncated_normal(
        jax.random.key(8), 0.0, 1.0, low, high, (NUM_SAMPLES,)
    )
    samples = np.asarray(samples, dtype=np.float64)

    assert np.all(samples >= low)
    assert np.all(samples <= high)
    assert abs(samples.mean() - mean) / np.sqrt(variance / NUM_SAMPLES) < NUM_STANDARD_ERRORS
    variance_error = abs(samples.var() - variance) / np.sqrt((fourth - variance**2) / NUM_SAMPLES)
    assert variance_error < NUM_STANDARD_ERRORS
