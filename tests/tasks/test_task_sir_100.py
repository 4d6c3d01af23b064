"""Tests for the SIR variant observed on 100 days, which is not an sbibm task.

It shares the prior, the ODE and the Binomial counts of `models.sir`, so the expected values
come from the same definition, evaluated at 100 evenly spaced times on [0, 160] days.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import models
from models import sir
from models import sir_100 as task_module
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7. The keys are fixed, so the tests are
# deterministic.
NUM_STANDARD_ERRORS = 5.0
NUM_SAMPLES = 5_000

POPULATION = 1e6
# sbibm's true parameters of its SIR observation 1.
SBIBM_THETA = (0.61479264, 0.19172086)
# Basic reproduction number 30: the epidemic peaks on day 6.
THETA_FAST = (3.0, 0.1)

# Allowed relative error of I / N. At these two parameter values the largest error at the 100
# days was 1.2e-5, from float32 rounding of log(I / N) and of the days themselves. A count of
# mean m then moves by at most 1e-4 m, below 1% of its Binomial standard deviation for every
# m up to 900.
RELATIVE_SOLUTION_TOLERANCE = 1e-4


def _reference_infected_fraction(theta, times) -> np.ndarray:
    """Solve the SIR ODE with SciPy in float64 and return I / N at `times`."""
    beta, gamma = (float(value) for value in theta)

    def vector_field(t, compartments):
        susceptible, infected, _ = compartments
        infections = beta * susceptible * infected / POPULATION
        return [-infections, infections - gamma * infected, gamma * infected]

    solution = integrate.solve_ivp(
        vector_field,
        (0.0, float(times[-1])),
        [POPULATION - 1.0, 1.0, 0.0],
        method="DOP853",
        t_eval=np.asarray(times, dtype=np.float64),
        rtol=1e-10,
        atol=1e-16,
    )
    assert solution.success, solution.message
    return solution.y[1] / POPULATION


def test_observation_times_evenly_spaced():
    times = task_module.OBSERVATION_TIMES

    assert times.shape == (100,)
    assert times[0] == 0.0
    assert times[-1] == 160.0
    np.testing.assert_allclose(np.diff(times), 160.0 / 99, rtol=1e-12)
    assert task_module.DATA_DIM == 100
    assert task_module.THETA_DIM == 2


@pytest.mark.parametrize("theta", [SBIBM_THETA, THETA_FAST])
def test_solution_matches_solve_ivp(theta):
    expected = _reference_infected_fraction(theta, task_module.OBSERVATION_TIMES)

    solution = sir.solve_infected_fraction(
        np.array([theta], dtype=np.float32), task_module.OBSERVATION_TIMES
    )

    assert solution.shape == (1, 100)
    np.testing.assert_allclose(solution[0], expected, rtol=RELATIVE_SOLUTION_TOLERANCE, atol=0.0)


def test_compiled_count_moments():
    probability = _reference_infected_fraction(SBIBM_THETA, task_module.OBSERVATION_TIMES)
    expected_mean = 1000 * probability
    expected_variance = 1000 * probability * (1 - probability)
    batch = np.broadcast_to(np.array(SBIBM_THETA, dtype=np.float32), (NUM_SAMPLES, 2))

    data = jax.jit(task_module.simulate)(jax.random.key(10), batch)
    counts = np.asarray(data, dtype=np.float64)

    assert data.shape == (NUM_SAMPLES, 100)
    assert data.dtype == jnp.float32
    assert np.all(counts == np.round(counts))
    assert np.all((counts >= 0) & (counts <= 1000))
    # The Gaussian approximation behind the bound needs many nonzero counts: a mean of at
    # least 0.04 gives about 200 of them among the 5,000 draws.
    frequent = expected_mean >= 0.04
    assert np.sum(frequent) >= 30
    mean_error = np.sqrt(expected_variance / NUM_SAMPLES)
    # The ODE error shifts the mean by up to RELATIVE_SOLUTION_TOLERANCE of itself.
    mean_bound = NUM_STANDARD_ERRORS * mean_error + RELATIVE_SOLUTION_TOLERANCE * expected_mean
    assert np.all(np.abs(counts.mean(axis=0) - expected_mean)[frequent] < mean_bound[frequent])


def test_prior_matches_sir():
    prior = task_module.make_prior()
    theta = np.array([[0.4, 0.125], [1.5, 0.2]], dtype=np.float32)

    assert tuple(prior.event_shape) == (2,)
    np.testing.assert_array_equal(prior.log_prob(theta), sir.make_prior().log_prob(theta))


def test_get_task_builds_task():
    task = models.get_task("sir_100")

    assert isinstance(task, Task)
    assert task.name == "sir_100"
    assert task.theta_dim == 2
    assert task.data_dim == 100
    assert task.observation.shape == (100,)
    assert task.observation.dtype == np.float32
    assert task.reference_sampler is None


def test_numbered_observation_is_seeded():
    # sbibm publishes no observations for this task, so observation K is drawn from seed K.
    assert models.observation_source("sir_100", 1) == "seeded"


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(ValueError, match=r"sir_100 simulator: theta must have shape \(n, 2\)"):
        task_module.simulate(jax.random.key(0), jnp.ones(2))
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        task_module.simulate(jax.random.key(0), jnp.ones((3, 4)))
