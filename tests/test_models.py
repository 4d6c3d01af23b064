"""Tests for the benchmark tasks in the `models` package."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import (
    bernoulli_glm,
    bernoulli_glm_raw,
    gaussian_linear,
    gaussian_linear_uniform,
    gaussian_mixture,
    lotka_volterra,
    lotka_volterra_100,
    sir,
    sir_100,
    slcp,
    slcp_distractors,
    slcp_distractors_1000,
    two_moons,
)
from ssnl.task import Task

# Name, module, theta_dim and data_dim of every registered task, as sbibm defines them for
# its tasks.
TASKS = [
    ("bernoulli_glm", bernoulli_glm, 10, 10),
    ("bernoulli_glm_raw", bernoulli_glm_raw, 10, 100),
    ("gaussian_linear", gaussian_linear, 10, 10),
    ("gaussian_linear_uniform", gaussian_linear_uniform, 10, 10),
    ("gaussian_mixture", gaussian_mixture, 2, 2),
    ("lotka_volterra", lotka_volterra, 4, 20),
    ("lotka_volterra_100", lotka_volterra_100, 4, 200),
    ("sir", sir, 2, 10),
    ("sir_100", sir_100, 2, 100),
    ("slcp", slcp, 5, 8),
    ("slcp_distractors", slcp_distractors, 5, 100),
    ("slcp_distractors_1000", slcp_distractors_1000, 5, 1000),
    ("two_moons", two_moons, 2, 2),
]

# Moment checks allow 5 standard errors per entry. For an entry whose estimate is close to
# Gaussian, that fails with probability about 6e-7. The seeds are fixed, so the tests are
# deterministic.
NUM_STANDARD_ERRORS = 5.0


def _check_mean(samples, expected_mean, covariance):
    """Return the largest |sample mean - expected| in units of its standard error."""
    samples = np.asarray(samples, dtype=np.float64)
    standard_error = np.sqrt(np.diag(covariance) / samples.shape[0])
    return np.max(np.abs(samples.mean(axis=0) - expected_mean) / standard_error)


def _check_covariance(samples, expected_covariance):
    """Return the largest |sample covariance - expected| in units of its standard error.

    For Gaussian data the sample covariance entry (a, b) has variance
    (S_aa S_bb + S_ab^2) / n to first order in 1 / n.
    """
    samples = np.asarray(samples, dtype=np.float64)
    num_samples = samples.shape[0]
    variances = np.diag(expected_covariance)
    standard_error = np.sqrt(
        (np.outer(variances, variances) + expected_covariance**2) / num_samples
    )
    sample_covariance = np.cov(samples, rowvar=False)
    return np.max(np.abs(sample_covariance - expected_covariance) / standard_error)


def test_list_tasks_names():
    # The ten sbibm tasks and the high-dimensional variants.
    assert models.list_tasks() == [
        "bernoulli_glm",
        "bernoulli_glm_raw",
        "gaussian_linear",
        "gaussian_linear_uniform",
        "gaussian_mixture",
        "lotka_volterra",
        "lotka_volterra_100",
        "sir",
        "sir_100",
        "slcp",
        "slcp_distractors",
        "slcp_distractors_1000",
        "two_moons",
    ]


@pytest.mark.parametrize(("name", "module", "theta_dim", "data_dim"), TASKS)
def test_get_task_builds_task(name, module, theta_dim, data_dim):
    task = models.get_task(name)

    assert isinstance(task, Task)
    assert task.name == name
    assert task.theta_dim == theta_dim
    assert task.data_dim == data_dim
    assert task.observation.shape == (data_dim,)
    assert task.observation.dtype == np.float32
    assert tuple(task.prior.event_shape) == (theta_dim,)


@pytest.mark.parametrize(("name", "module", "theta_dim", "data_dim"), TASKS)
def test_simulator_shape_and_dtype(name, module, theta_dim, data_dim):
    task = models.get_task(name)
    prior_key, simulator_key = jax.random.split(jax.random.key(3))
    theta = task.prior.sample(seed=prior_key, sample_shape=(7,))

    data = task.simulator(simulator_key, theta)
    jitted_data = jax.jit(task.simulator)(simulator_key, theta)

    assert data.shape == (7, data_dim)
    assert data.dtype == jnp.float32
    assert jitted_data.dtype == jnp.float32
    assert np.all(np.isfinite(data))
    np.testing.assert_allclose(jitted_data, data, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "module", "theta_dim", "data_dim"), TASKS)
def test_simulator_fixed_key_deterministic(name, module, theta_dim, data_dim):
    task = models.get_task(name)
    theta = task.prior.sample(seed=jax.random.key(4), sample_shape=(5,))

    first = task.simulator(jax.random.key(5), theta)
    second = task.simulator(jax.random.key(5), theta)
    other_key = task.simulator(jax.random.key(6), theta)

    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other_key)


@pytest.mark.parametrize(("name", "module", "theta_dim", "data_dim"), TASKS)
def test_simulator_rejects_unbatched_theta(name, module, theta_dim, data_dim):
    with pytest.raises(
        ValueError, match=rf"theta must have shape \(n, {theta_dim}\).*\({theta_dim},\)"
    ):
        module.simulate(jax.random.key(0), jnp.zeros(theta_dim))
    with pytest.raises(ValueError, match=rf"\(3, {theta_dim + 1}\)"):
        module.simulate(jax.random.key(0), jnp.zeros((3, theta_dim + 1)))


@pytest.mark.parametrize(("name", "module", "theta_dim", "data_dim"), TASKS)
def test_default_observation_reproducible(name, module, theta_dim, data_dim):
    task = models.get_task(name)

    # The construction documented in each module's make_task.
    prior_key, simulator_key = jax.random.split(jax.random.key(module.DEFAULT_OBSERVATION_SEED))
    expected_theta = task.prior.sample(seed=prior_key, sample_shape=(1,))
    expected_observation = task.simulator(simulator_key, expected_theta)[0]

    np.testing.assert_array_equal(task.observation, models.get_task(name).observation)
    np.testing.assert_array_equal(task.observation, module.make_task().observation)
    np.testing.assert_array_equal(task.observation, np.asarray(expected_observation))
    np.testing.assert_array_equal(module.true_parameters(), np.asarray(expected_theta[0]))


@pytest.mark.parametrize(("name", "module", "theta_dim", "data_dim"), TASKS)
def test_observation_seed_changes_observation(name, module, theta_dim, data_dim):
    default_task = module.make_task()
    other_task = module.make_task(observation_seed=module.DEFAULT_OBSERVATION_SEED + 1)

    assert not np.allclose(default_task.observation, other_task.observation)
    assert not np.allclose(
        module.true_parameters(), module.true_parameters(module.DEFAULT_OBSERVATION_SEED + 1)
    )


@pytest.mark.parametrize("bad_seed", [1.5, "0", True, None])
def test_observation_seed_rejects_non_integer(bad_seed):
    with pytest.raises(TypeError, match="Observation seed must be an integer"):
        slcp.make_task(observation_seed=bad_seed)


def test_unknown_task_error_message():
    with pytest.raises(ValueError, match="Unknown task 'three_moons'") as error:
        models.get_task("three_moons")

    assert "gaussian_linear" in str(error.value)
    assert "slcp" in str(error.value)


def test_gaussian_linear_simulation_moments():
    num_simulations = 20_000
    theta = np.linspace(-0.5, 0.5, 10, dtype=np.float32)
    batch = np.broadcast_to(theta, (num_simulations, 10))

    data = gaussian_linear.simulate(jax.random.key(10), batch)

    expected_covariance = 0.1 * np.eye(10)
    assert _check_mean(data, theta, expected_covariance) < NUM_STANDARD_ERRORS
    assert _check_covariance(data, expected_covariance) < NUM_STANDARD_ERRORS


def test_gaussian_linear_prior_moments():
    samples = gaussian_linear.make_prior().sample(seed=jax.random.key(11), sample_shape=(20_000,))

    expected_covariance = 0.1 * np.eye(10)
    assert _check_mean(samples, np.zeros(10), expected_covariance) < NUM_STANDARD_ERRORS
    assert _check_covariance(samples, expected_covariance) < NUM_STANDARD_ERRORS


def test_gaussian_linear_reference_posterior_moments():
    task = models.get_task("gaussian_linear")

    samples = task.reference_sampler(jax.random.key(12), 20_000)

    expected_mean = 0.5 * task.observation.astype(np.float64)
    expected_covariance = 0.05 * np.eye(10)
    assert samples.shape == (20_000, 10)
    assert samples.dtype == jnp.float32
    assert _check_mean(samples, expected_mean, expected_covariance) < NUM_STANDARD_ERRORS
    assert _check_covariance(samples, expected_covariance) < NUM_STANDARD_ERRORS


def test_gaussian_linear_reference_posterior_parameters():
    observation = np.linspace(-1.0, 1.0, 10, dtype=np.float32)

    posterior = gaussian_linear.reference_posterior(observation)

    np.testing.assert_allclose(posterior.mean(), 0.5 * observation, rtol=1e-6)
    np.testing.assert_allclose(posterior.covariance(), 0.05 * np.eye(10), rtol=1e-6, atol=1e-8)


def test_gaussian_linear_reference_sampler_rejects_zero_samples():
    task = models.get_task("gaussian_linear")

    with pytest.raises(ValueError, match="num_samples must be at least 1, got 0"):
        task.reference_sampler(jax.random.key(0), 0)


def test_gaussian_linear_reference_posterior_rejects_wrong_shape():
    with pytest.raises(
        ValueError, match=r"observation must have shape \(10,\), got shape \(1, 10\)"
    ):
        gaussian_linear.reference_posterior(np.zeros((1, 10)))


def _slcp_mean_and_covariance(theta):
    """Compute m and S for one parameter vector from the task definition, without jitter."""
    s1 = theta[2] ** 2
    s2 = theta[3] ** 2
    rho = np.tanh(theta[4])
    covariance = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]])
    return np.array(theta[:2]), covariance


def test_slcp_simulation_moments():
    num_simulations = 20_000
    theta = np.array([0.5, -1.0, 1.2, 0.9, 0.7], dtype=np.float64)
    expected_mean, expected_covariance = _slcp_mean_and_covariance(theta)
    batch = np.broadcast_to(theta.astype(np.float32), (num_simulations, 5))

    data = np.asarray(slcp.simulate(jax.random.key(20), batch), dtype=np.float64)

    assert data.shape == (num_simulations, 8)
    for draw in range(4):
        # Draw k occupies columns 2k and 2k + 1.
        draw_data = data[:, 2 * draw : 2 * draw + 2]
        mean_error = _check_mean(draw_data, expected_mean, expected_covariance)
        covariance_error = _check_covariance(draw_data, expected_covariance)
        assert mean_error < NUM_STANDARD_ERRORS, f"draw {draw}"
        assert covariance_error < NUM_STANDARD_ERRORS, f"draw {draw}"

    # The 4 draws are independent, so the full covariance is block diagonal with S blocks.
    block_diagonal = np.kron(np.eye(4), expected_covariance)
    assert _check_covariance(data, block_diagonal) < NUM_STANDARD_ERRORS


def test_slcp_likelihood_parameters_match_definition():
    theta = np.array([[0.5, -1.0, 1.2, 0.9, 0.7], [-2.0, 2.5, -0.3, 2.9, -2.0]])

    mean, covariance = slcp.likelihood_parameters(theta)

    for row in range(2):
        expected_mean, expected_covariance = _slcp_mean_and_covariance(theta[row])
        expected_covariance = expected_covariance + slcp.COVARIANCE_JITTER * np.eye(2)
        np.testing.assert_allclose(mean[row], expected_mean, rtol=1e-6)
        np.testing.assert_allclose(covariance[row], expected_covariance, rtol=1e-5)


def test_slcp_zero_scale_stays_finite():
    # theta_2 = theta_3 = 0 makes S zero apart from the jitter, and rho near 1 is the case
    # where the Cholesky factor is closest to singular.
    theta = jnp.array([[0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 3.0, 3.0, 20.0]])

    data = slcp.simulate(jax.random.key(21), theta)

    assert np.all(np.isfinite(data))
    assert np.max(np.abs(data[0])) < 0.01


def test_slcp_prior_support():
    samples = slcp.make_prior().sample(seed=jax.random.key(22), sample_shape=(10_000,))

    assert samples.shape == (10_000, 5)
    assert np.all(samples >= -3.0)
    assert np.all(samples <= 3.0)
    # U(-3, 3) has standard deviation sqrt(3), so a mean within 0.1 of 0 over 10000
    # samples allows about 5.8 standard errors.
    assert np.max(np.abs(np.mean(samples, axis=0))) < 0.1
