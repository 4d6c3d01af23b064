"""Tests for the two moons task against sbibm's definition."""

import importlib.util
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import two_moons as task_module
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7. The keys are fixed, so the tests are
# deterministic.
NUM_STANDARD_ERRORS = 5.0
# The size of sbibm's reference sample sets. Every sample array in this file has this length,
# so each jitted function compiles once.
NUM_SAMPLES = 10_000

# Grid step of the posterior quadrature, and the histogram bin width, a multiple of it.
GRID_STEP = 0.002
BIN_WIDTH = 0.05


def _sbibm_files() -> Path | None:
    """Return sbibm's folder of task files, or None when sbibm is not installed."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tasks" / task_module.NAME / "files"


def _rotate(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate theta by -pi/4 as sbibm's `_map_fun` does, returning (z_0, z_1)."""
    c, s = math.cos(-math.pi / 4.0), math.sin(-math.pi / 4.0)
    return c * theta[..., 0] - s * theta[..., 1], s * theta[..., 0] + c * theta[..., 1]


def _posterior_grid(observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate the normalised posterior mass of each cell of a grid over the prior box.

    The moon point p = (r cos(a) + 0.25, r sin(a)) with r ~ N(0.1, 0.01^2) and
    a ~ U(-pi/2, pi/2) has density N(rho; 0.1, 0.01^2) / (pi rho) at distance rho from
    (0.25, 0) on the side p_0 > 0.25, and 0 on the other side. Negative radii have
    probability Phi(-10) and are ignored. The likelihood of theta is that density at
    p = x - (-|z_0|, z_1), and the prior is flat on the box.

    The cells tile [-1, 1]^2 exactly and the density is evaluated at their centres. The step
    is 0.2 radial standard deviations, where the midpoint rule integrates a Gaussian profile
    to far better than the Monte Carlo error.

    Returns the cell centres along each axis and the mass of each cell, summing to 1.
    """
    num_cells = round(2.0 / GRID_STEP)
    centres = -1.0 + GRID_STEP * (np.arange(num_cells) + 0.5)
    theta = np.stack(np.meshgrid(centres, centres, indexing="ij"), axis=-1)
    z_0, z_1 = _rotate(theta)

    u = observation[0] + np.abs(z_0) - 0.25
    v = observation[1] - z_1
    rho = np.hypot(u, v)
    density = np.where(u > 0.0, np.exp(-0.5 * ((rho - 0.1) / 0.01) ** 2) / rho, 0.0)
    return centres, centres, density / density.sum()


def _grid_moments(centres_0, centres_1, mass) -> dict[str, np.ndarray]:
    """Compute the mean, the covariance and the variance of each centred product."""
    theta = np.stack(np.meshgrid(centres_0, centres_1, indexing="ij"), axis=-1)
    mean = np.einsum("ij,ijk->k", mass, theta)
    centred = theta - mean
    product = centred[..., :, None] * centred[..., None, :]
    covariance = np.einsum("ij,ijkl->kl", mass, product)
    product_variance = np.einsum("ij,ijkl->kl", mass, product**2) - covariance**2
    return {"mean": mean, "covariance": covariance, "product_variance": product_variance}


@pytest.fixture(scope="module")
def task():
    return models.get_task("two_moons")


def test_task_dimensions(task):
    assert isinstance(task, Task)
    assert task.name == task_module.NAME == "two_moons"
    assert task.theta_dim == task_module.THETA_DIM == 2
    assert task.data_dim == task_module.DATA_DIM == 2
    assert task.observation.dtype == np.float32
    assert task.reference_sampler is not None
    assert "two_moons" in models.list_tasks()


def test_prior_support_and_moments():
    prior = task_module.make_prior()
    samples = np.asarray(prior.sample(seed=jax.random.key(1), sample_shape=(NUM_SAMPLES,)))

    assert tuple(prior.event_shape) == (2,)
    assert samples.dtype == np.float32
    assert np.all(np.abs(samples) <= 1.0)
    # U(-1, 1) has mean 0 and variance 1/3, and t^2 has variance 1/5 - 1/9 = 4/45.
    mean_error = np.abs(samples.mean(axis=0)) / np.sqrt(1.0 / 3.0 / NUM_SAMPLES)
    second_moment = np.mean(samples.astype(np.float64) ** 2, axis=0)
    variance_error = np.abs(second_moment - 1.0 / 3.0) / np.sqrt(4.0 / 45.0 / NUM_SAMPLES)
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(variance_error) < NUM_STANDARD_ERRORS


def test_simulation_moments():
    theta = np.array([0.3, -0.6])
    z_0, z_1 = _rotate(theta)
    batch = np.broadcast_to(theta.astype(np.float32), (NUM_SAMPLES, 2))

    data = np.asarray(task_module.simulate(jax.random.key(2), batch), dtype=np.float64)

    # Removing the shift gives the point on the half circle, (u, v) = (r cos(a), r sin(a)).
    u = data[:, 0] + abs(z_0) - 0.25
    v = data[:, 1] - z_1
    radius = np.hypot(u, v)
    angle = np.arctan2(v, u)
    # cos(a) >= 0 on [-pi/2, pi/2], up to float32 rounding of the shifted data.
    assert np.all(u > -1e-6)

    # r ~ N(0.1, 0.01^2): mean 0.1 with standard error 0.01 / sqrt(n), variance 1e-4 with
    # standard error sqrt(2 * 1e-8 / n).
    assert abs(radius.mean() - 0.1) / (0.01 / np.sqrt(NUM_SAMPLES)) < NUM_STANDARD_ERRORS
    radius_variance_error = abs(radius.var() - 1e-4) / np.sqrt(2.0 * 1e-8 / NUM_SAMPLES)
    assert radius_variance_error < NUM_STANDARD_ERRORS

    # a ~ U(-pi/2, pi/2): mean 0 and E[a^2] = pi^2 / 12, whose estimate has variance
    # E[a^4] - E[a^2]^2 = (pi/2)^4 / 5 - (pi^2 / 12)^2.
    angle_variance = math.pi**2 / 12.0
    assert abs(angle.mean()) / np.sqrt(angle_variance / NUM_SAMPLES) < NUM_STANDARD_ERRORS
    angle_second_moment_error = abs(np.mean(angle**2) - angle_variance) / np.sqrt(
        ((math.pi / 2.0) ** 4 / 5.0 - angle_variance**2) / NUM_SAMPLES
    )
    assert angle_second_moment_error < NUM_STANDARD_ERRORS

    # With r and a independent, E[x] = (0.25 + 0.1 * 2 / pi - |z_0|, z_1), because
    # E[cos(a)] = 2 / pi and E[sin(a)] = 0. E[cos(a)^2] = E[sin(a)^2] = 1/2.
    radius_second_moment = 0.1**2 + 0.01**2
    expected_mean = np.array([0.25 + 0.1 * 2.0 / math.pi - abs(z_0), z_1])
    expected_variance = np.array(
        [radius_second_moment / 2.0 - (0.1 * 2.0 / math.pi) ** 2, radius_second_moment / 2.0]
    )
    mean_error = np.abs(data.mean(axis=0) - expected_mean) / np.sqrt(
        expected_variance / NUM_SAMPLES
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS


def test_simulation_mirror_symmetry():
    # theta and its mirror image (-theta_1, -theta_0) differ only in the sign of z_0, so with
    # the same key they give the same data up to float32 rounding.
    theta = np.array([[0.3, -0.6], [0.9, 0.2], [-0.5, -0.5]], dtype=np.float32)
    mirrored = -theta[:, ::-1]

    data = task_module.simulate(jax.random.key(3), theta)
    mirrored_data = task_module.simulate(jax.random.key(3), mirrored)

    np.testing.assert_allclose(mirrored_data, data, rtol=0.0, atol=1e-6)


def test_simulator_shape_dtype_and_jit():
    theta = task_module.make_prior().sample(seed=jax.random.key(4), sample_shape=(NUM_SAMPLES,))

    data = task_module.simulate(jax.random.key(5), theta)
    jitted = jax.jit(task_module.simulate)(jax.random.key(5), theta)

    assert data.shape == (NUM_SAMPLES, 2)
    assert data.dtype == jnp.float32
    assert jitted.dtype == jnp.float32
    np.testing.assert_allclose(jitted, data, rtol=1e-5, atol=1e-6)


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 2\).*\(2,\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros((3, 1)))


def test_default_observation_reproducible(task):
    prior_key, simulator_key = jax.random.split(jax.random.key(0))
    theta = task.prior.sample(seed=prior_key, sample_shape=(1,))
    expected = task_module.simulate(simulator_key, theta)[0]

    np.testing.assert_array_equal(task.observation, np.asarray(expected))
    np.testing.assert_array_equal(task_module.true_parameters(), np.asarray(theta[0]))


# "default": the task's observation, with x_0 = 0.30 > 0.25, so moon points with p_0 < x_0
# must be rejected. "plain": the moon centre for theta = (0.2, -0.6). "corner": the moon centre
# for theta = (0.95, 0.95), whose crescents cross the edges of the prior box.
REFERENCE_OBSERVATIONS = {
    "plain": np.array([0.067, -0.566], dtype=np.float32),
    "corner": np.array([-0.993, 0.0], dtype=np.float32),
}


@pytest.mark.parametrize("observation_name", ["default", "plain", "corner"])
def test_reference_matches_grid(task, observation_name):
    observation = REFERENCE_OBSERVATIONS.get(observation_name, task.observation)
    centres_0, centres_1, mass = _posterior_grid(observation.astype(np.float64))
    expected = _grid_moments(centres_0, centres_1, mass)

    samples = task_module.sample_reference_posterior(jax.random.key(6), observation, NUM_SAMPLES)
    samples = np.asarray(samples, dtype=np.float64)

    assert samples.shape == (NUM_SAMPLES, 2)
    assert np.all(np.abs(samples) <= 1.0)

    mean_error = np.abs(samples.mean(axis=0) - expected["mean"]) / np.sqrt(
        np.diag(expected["covariance"]) / NUM_SAMPLES
    )
    centred = samples - expected["mean"]
    covariance_error = np.abs(centred.T @ centred / NUM_SAMPLES - expected["covariance"]) / (
        np.sqrt(expected["product_variance"] / NUM_SAMPLES)
    )
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    assert np.max(covariance_error) < NUM_STANDARD_ERRORS

    # Histogram on bins of 25 x 25 grid cells. A bin count is binomial, so its frequency has
    # standard error sqrt(p (1 - p) / n). Bins with p < 1e-3 (under 10 expected samples) are
    # left out because the normal approximation is poor there.
    cells_per_bin = round(BIN_WIDTH / GRID_STEP)
    num_bins = mass.shape[0] // cells_per_bin
    bin_mass = mass.reshape(num_bins, cells_per_bin, num_bins, cells_per_bin).sum(axis=(1, 3))
    edges = np.linspace(-1.0, 1.0, num_bins + 1)
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=[edges, edges])
    frequency = counts / NUM_SAMPLES
    checked = bin_mass >= 1e-3
    bin_error = np.abs(frequency - bin_mass)[checked] / np.sqrt(
        bin_mass[checked] * (1.0 - bin_mass[checked]) / NUM_SAMPLES
    )
    assert np.max(bin_error) < NUM_STANDARD_ERRORS
    assert frequency[~checked].sum() < bin_mass[~checked].sum() + NUM_STANDARD_ERRORS * np.sqrt(
        max(bin_mass[~checked].sum(), 1e-4) / NUM_SAMPLES
    )


def test_reference_sampler_of_task(task):
    samples = task.reference_sampler(jax.random.key(7), NUM_SAMPLES)
    again = task.reference_sampler(jax.random.key(7), NUM_SAMPLES)

    assert samples.shape == (NUM_SAMPLES, 2)
    assert samples.dtype == jnp.float32
    np.testing.assert_array_equal(samples, again)


def test_reference_rejects_bad_arguments():
    with pytest.raises(
        ValueError, match=r"observation must have shape \(2,\), got shape \(1, 2\)"
    ):
        task_module.sample_reference_posterior(jax.random.key(0), np.zeros((1, 2)), 5)
    with pytest.raises(ValueError, match="observation must be finite"):
        task_module.sample_reference_posterior(jax.random.key(0), np.array([np.nan, 0.0]), 5)
    with pytest.raises(ValueError, match="num_samples must be at least 1, got 0"):
        task_module.sample_reference_posterior(jax.random.key(0), np.zeros(2), 0)


def test_reference_impossible_observation_raises(monkeypatch):
    # x_0 = 0.6 needs a radius of at least 0.35, 25 standard deviations above the mean, so no
    # proposal is accepted. Two rounds keep the test fast.
    monkeypatch.setattr(task_module, "_MAX_PROPOSAL_ROUNDS", 2)

    with pytest.raises(RuntimeError, match=r"accepted only 0 of 131072 proposals"):
        task_module.sample_reference_posterior(jax.random.key(0), np.array([0.6, 0.0]), 5)


@pytest.mark.skipif(_sbibm_files() is None, reason="sbibm is not installed")
def test_reference_matches_sbibm_samples():
    for number in range(1, 11):
        folder = _sbibm_files() / f"num_observation_{number}"
        observation = np.loadtxt(folder / "observation.csv", delimiter=",", skiprows=1)
        sbibm_samples = np.loadtxt(
            folder / "reference_posterior_samples.csv.bz2", delimiter=",", skiprows=1
        )
        assert sbibm_samples.shape == (NUM_SAMPLES, 2)
        # sbibm's construction equals the exact posterior only for x_0 <= 0.25.
        assert observation[0] <= 0.25

        samples = task_module.sample_reference_posterior(
            jax.random.key(100 + number), observation, NUM_SAMPLES
        )
        samples = np.asarray(samples, dtype=np.float64)

        # Two-sample standard error of the difference of means.
        variances = samples.var(axis=0), sbibm_samples.var(axis=0)
        standard_error = np.sqrt((variances[0] + variances[1]) / NUM_SAMPLES)
        mean_error = np.abs(samples.mean(axis=0) - sbibm_samples.mean(axis=0)) / standard_error
        assert np.max(mean_error) < NUM_STANDARD_ERRORS, f"observation {number}"

        # The share of samples on the crescent with z_0 > 0 is binomial in each set.
        shares = [np.mean(_rotate(values)[0] > 0.0) for values in (samples, sbibm_samples)]
        share_error = abs(shares[0] - shares[1]) / np.sqrt(
            (shares[0] * (1.0 - shares[0]) + shares[1] * (1.0 - shares[1])) / NUM_SAMPLES
        )
        assert share_error < NUM_STANDARD_ERRORS, f"observation {number}"
