"""Tests for the Lotka-Volterra variant observed at 100 times, which is not an sbibm task.

It shares the prior, the ODE, the clamping and the noise of `models.lotka_volterra`, so the
expected values come from the same definition, evaluated at 100 evenly spaced times on [0, 20].
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import models
from models import lotka_volterra
from models import lotka_volterra_100 as task_module
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7, so even the 200 entries fail together with
# probability about 1e-4. The keys are fixed, so the tests are deterministic.
NUM_STANDARD_ERRORS = 5.0
NUM_SAMPLES = 5_000

# sbibm's true parameters of its Lotka-Volterra observation 1.
SBIBM_THETA = (0.6859157, 0.10761319, 0.88789904, 0.116794825)
# Fast cycles, the largest solver error among 300 prior draws at these 100 times.
THETA_FAST = (2.7227511, 0.03972338, 0.522353, 0.1070261)

# Largest allowed |log u - log u_scipy|. Over 300 prior draws the largest error at these times
# was 3.7e-4, from float32 rounding. 1e-3 is still 1% of the noise standard deviation 0.1.
LOG_SOLUTION_TOLERANCE = 1e-3


def _reference_log_populations(theta, times) -> np.ndarray:
    """Solve the Lotka-Volterra ODE with SciPy in float64 and return log x and log y, (T, 2)."""
    alpha, beta, gamma, delta = (float(value) for value in theta)

    def vector_field(t, populations):
        prey, predators = populations
        return [
            alpha * prey - beta * prey * predators,
            -gamma * predators + delta * prey * predators,
        ]

    solution = integrate.solve_ivp(
        vector_field,
        (0.0, float(times[-1])),
        [30.0, 1.0],
        method="DOP853",
        t_eval=np.asarray(times, dtype=np.float64),
        rtol=1e-10,
        atol=1e-60,
    )
    assert solution.success, solution.message
    return np.log(solution.y.T)


def test_observation_times_evenly_spaced():
    times = task_module.OBSERVATION_TIMES

    assert times.shape == (100,)
    assert times[0] == 0.0
    assert times[-1] == 20.0
    np.testing.assert_allclose(np.diff(times), 20.0 / 99, rtol=1e-12)
    assert task_module.DATA_DIM == 200
    assert task_module.THETA_DIM == 4


@pytest.mark.parametrize("theta", [SBIBM_THETA, THETA_FAST])
def test_solution_matches_solve_ivp(theta):
    expected = _reference_log_populations(theta, task_module.OBSERVATION_TIMES)

    solution = lotka_volterra.solve_log_populations(
        np.array([theta], dtype=np.float32), task_module.OBSERVATION_TIMES
    )

    assert solution.shape == (1, 100, 2)
    np.testing.assert_allclose(solution[0], expected, rtol=0.0, atol=LOG_SOLUTION_TOLERANCE)


def test_compiled_log_data_moments():
    log_solution = _reference_log_populations(SBIBM_THETA, task_module.OBSERVATION_TIMES)
    # Prey at the 100 times, then predators. No population of these parameters reaches a
    # clamp bound, so the clamp leaves the mean unchanged.
    expected_mean = log_solution.T.reshape(-1)
    assert np.all((expected_mean > np.log(1e-10)) & (expected_mean < np.log(1e4)))
    expected_variance = 0.1**2
    batch = np.broadcast_to(np.array(SBIBM_THETA, dtype=np.float32), (NUM_SAMPLES, 4))

    data = jax.jit(task_module.simulate)(jax.random.key(10), batch)
    log_data = np.log(np.asarray(data, dtype=np.float64))

    assert data.shape == (NUM_SAMPLES, 200)
    assert data.dtype == jnp.float32
    mean_error = np.sqrt(expected_variance / NUM_SAMPLES)
    variance_error = expected_variance * np.sqrt(2.0 / (NUM_SAMPLES - 1))
    # The ODE error, below LOG_SOLUTION_TOLERANCE, shifts the mean as well.
    mean_bound = NUM_STANDARD_ERRORS * mean_error + LOG_SOLUTION_TOLERANCE
    assert np.max(np.abs(log_data.mean(axis=0) - expected_mean)) < mean_bound
    assert np.max(np.abs(log_data.var(axis=0, ddof=1) - expected_variance)) < (
        NUM_STANDARD_ERRORS * variance_error
    )


def test_prior_matches_lotka_volterra():
    prior = task_module.make_prior()
    theta = np.array([[0.9, 0.05, 0.8, 0.04], [2.0, 0.1, 0.3, 0.01]], dtype=np.float32)

    assert tuple(prior.event_shape) == (4,)
    np.testing.assert_array_equal(
        prior.log_prob(theta), lotka_volterra.make_prior().log_prob(theta)
    )


def test_get_task_builds_task():
    task = models.get_task("lotka_volterra_100")

    assert isinstance(task, Task)
    assert task.name == "lotka_volterra_100"
    assert task.theta_dim == 4
    assert task.data_dim == 200
    assert task.observation.shape == (200,)
    assert task.observation.dtype == np.float32
    assert task.reference_sampler is None


def test_numbered_observation_is_seeded():
    # sbibm publishes no observations for this task, so observation K is drawn from seed K.
    assert models.observation_source("lotka_volterra_100", 1) == "seeded"


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(
        ValueError, match=r"lotka_volterra_100 simulator: theta must have shape \(n, 4\)"
    ):
        task_module.simulate(jax.random.key(0), jnp.ones(4))
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        task_module.simulate(jax.random.key(0), jnp.ones((3, 2)))
