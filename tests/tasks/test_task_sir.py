"""Tests for the SIR task against sbibm's definition and a SciPy ODE solution.

Expected values come from sbibm 1.1.0's `sbibm/tasks/sir/task.py`: the ODE with N = 10^6,
S(0) = N - 1, I(0) = 1 and R(0) = 0, the infected I on every 17th day of the grid 0, 1, ...,
160, and counts Binomial(1000, I / N). The noiseless solution comes from
`scipy.integrate.solve_ivp` on the original equations for S, I and R.
"""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import models
from models import sir as task_module
from ssnl.constraints import prior_support
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7. The keys are fixed, so the tests are
# deterministic.
NUM_STANDARD_ERRORS = 5.0
NUM_SAMPLES = 20_000

POPULATION = 1e6
# sbibm's true parameters of its observation 1: the epidemic peaks near day 34.
SBIBM_THETA = (0.61479264, 0.19172086)
# The prior median: a slower epidemic that peaks near day 53.
PRIOR_MEDIAN_THETA = (0.4, 0.125)
# Basic reproduction number 30: the epidemic peaks on day 6, and S / N falls to about 1e-13.
THETA_FAST = (3.0, 0.1)
# Basic reproduction number 0.5: I decays to about 2e-7 people by day 153.
THETA_SUBCRITICAL = (0.1, 0.2)

# Allowed relative error of I / N. Over 1,000 prior draws the largest was 6.7e-6, from float32
# rounding of log(I / N), which is up to about 30 in size. A count of mean m then moves by at
# most 5e-5 m, below 0.5% of its Binomial standard deviation for every m up to 900.
RELATIVE_SOLUTION_TOLERANCE = 5e-5

# Compiling JAX's Binomial sampler takes seconds for each input shape. The tests therefore
# run the compiled simulator only on batches of NUM_SAMPLES, and the eager one only on single
# rows, the shape with which `get_task` draws its observation.
simulate_compiled = jax.jit(task_module.simulate)


def _reference_infected_fraction(theta, times) -> np.ndarray:
    """Solve the SIR ODE with SciPy in float64 and return I / N at `times`.

    The absolute tolerance 1e-16 people is 1e-9 of the smallest I reached here, so the
    relative tolerance 1e-10 controls the error of every compartment.
    """
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


def _sbibm_files() -> Path | None:
    """Return sbibm's folder of SIR files, or None when sbibm is not installed."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tasks" / "sir" / "files"


def _read_csv_row(path: Path) -> np.ndarray:
    """Read the single data row below the header of one of sbibm's CSV files."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)[0]


def test_observation_times_match_sbibm_grid():
    # sbibm saves the days 0, 1, ..., 160 and keeps every 17th.
    sbibm_grid = np.arange(161, dtype=np.float64)

    np.testing.assert_array_equal(task_module.OBSERVATION_TIMES, sbibm_grid[::17])
    assert task_module.OBSERVATION_TIMES.size == 10
    assert task_module.DATA_DIM == 10


@pytest.mark.parametrize("theta", [SBIBM_THETA, PRIOR_MEDIAN_THETA, THETA_FAST, THETA_SUBCRITICAL])
def test_solution_matches_solve_ivp(theta):
    expected = _reference_infected_fraction(theta, task_module.OBSERVATION_TIMES)

    solution = task_module.solve_infected_fraction(np.array([theta], dtype=np.float32))

    assert solution.shape == (1, 10)
    assert solution.dtype == jnp.float32
    np.testing.assert_allclose(solution[0], expected, rtol=RELATIVE_SOLUTION_TOLERANCE, atol=0.0)


@pytest.mark.parametrize("theta", [SBIBM_THETA, PRIOR_MEDIAN_THETA])
def test_count_moments(theta):
    probability = _reference_infected_fraction(theta, task_module.OBSERVATION_TIMES)
    # Moments of Binomial(1000, p), from sbibm's total_count = 1000.
    expected_mean = 1000 * probability
    expected_variance = 1000 * probability * (1 - probability)
    # Central fourth moment of Binomial(n, p): n p q (1 + 3 (n - 2) p q).
    fourth_moment = expected_variance * (1 + 3 * 998 * probability * (1 - probability))
    batch = np.broadcast_to(np.array(theta, dtype=np.float32), (NUM_SAMPLES, 2))

    counts = np.asarray(simulate_compiled(jax.random.key(10), batch), dtype=np.float64)

    assert np.all(counts == np.round(counts))
    assert np.all((counts >= 0) & (counts <= 1000))

    # The Gaussian approximation behind the 5-standard-error bound needs many nonzero counts.
    # A mean of at least 0.01 gives about 200 of them among the 20,000 draws.
    frequent = expected_mean >= 0.01
    assert np.sum(frequent) >= 5
    mean_error = np.sqrt(expected_variance / NUM_SAMPLES)
    # The ODE error shifts the mean by up to RELATIVE_SOLUTION_TOLERANCE of itself.
    mean_bound = NUM_STANDARD_ERRORS * mean_error + RELATIVE_SOLUTION_TOLERANCE * expected_mean
    assert np.all(np.abs(counts.mean(axis=0) - expected_mean)[frequent] < mean_bound[frequent])

    # Standard error of a sample variance: sqrt((mu_4 - sigma^4) / n).
    variance_error = np.sqrt((fourth_moment - expected_variance**2) / NUM_SAMPLES)
    sample_variance = counts.var(axis=0, ddof=1)
    large = expected_mean >= 1.0
    assert np.sum(large) >= 3
    variance_bound = NUM_STANDARD_ERRORS * variance_error + 2 * RELATIVE_SOLUTION_TOLERANCE * (
        expected_variance
    )
    assert np.all(np.abs(sample_variance - expected_variance)[large] < variance_bound[large])


@pytest.mark.skipif(_sbibm_files() is None, reason="sbibm is not installed")
def test_sbibm_observations_plausible():
    folders = [_sbibm_files() / f"num_observation_{number}" for number in range(1, 11)]
    theta = np.stack([_read_csv_row(folder / "true_parameters.csv") for folder in folders])
    observations = np.stack([_read_csv_row(folder / "observation.csv") for folder in folders])

    probability = np.asarray(task_module.solve_infected_fraction(theta.astype(np.float32)))
    probability = np.clip(probability.astype(np.float64), 0.0, 1.0)

    # Two-sided tail probability of each count under Binomial(1000, p). Under a matching
    # simulator, it is below 1e-6 with probability at most 1e-6 for each of the 100 counts. A
    # wrong day grid or initial state moves the peak counts many standard deviations.
    lower_tail = stats.binom.cdf(observations, 1000, probability)
    upper_tail = stats.binom.sf(observations - 1, 1000, probability)
    tail = 2 * np.minimum(lower_tail, upper_tail)
    assert observations.shape == (10, 10)
    assert np.min(tail) > 1e-6


def test_prior_log_moments():
    prior = task_module.make_prior()

    theta = prior.sample(seed=jax.random.key(20), sample_shape=(NUM_SAMPLES,))
    log_theta = np.log(np.asarray(theta, dtype=np.float64))

    assert theta.shape == (NUM_SAMPLES, 2)
    assert theta.dtype == jnp.float32
    assert np.all(np.asarray(theta) > 0.0)
    expected_loc = np.log([0.4, 0.125])
    expected_scale = np.array([0.5, 0.2])
    mean_error = expected_scale / np.sqrt(NUM_SAMPLES)
    std_error = expected_scale / np.sqrt(2.0 * (NUM_SAMPLES - 1))
    assert np.all(np.abs(log_theta.mean(axis=0) - expected_loc) < NUM_STANDARD_ERRORS * mean_error)
    assert np.all(
        np.abs(log_theta.std(axis=0, ddof=1) - expected_scale) < NUM_STANDARD_ERRORS * std_error
    )


def test_prior_log_prob_matches_scipy():
    prior = task_module.make_prior()
    theta = np.array([[0.4, 0.125], [1.5, 0.2], [0.1, 0.08]], dtype=np.float32)

    expected = stats.lognorm.logpdf(
        theta.astype(np.float64), s=[0.5, 0.2], scale=[0.4, 0.125]
    ).sum(axis=1)

    # float32 evaluation of log densities between -5 and 4.
    np.testing.assert_allclose(prior.log_prob(theta), expected, rtol=1e-5, atol=1e-4)


def test_prior_support_is_positive():
    low, high = prior_support(task_module.make_prior())

    np.testing.assert_array_equal(low, np.zeros(2, dtype=np.float32))
    np.testing.assert_array_equal(high, np.full(2, np.inf, dtype=np.float32))


def test_get_task_builds_task():
    task = models.get_task("sir")

    assert isinstance(task, Task)
    assert task.name == "sir"
    assert task.theta_dim == 2
    assert task.data_dim == 10
    assert task.observation.shape == (10,)
    assert task.observation.dtype == np.float32
    assert np.all(task.observation == np.round(task.observation))
    assert task.reference_sampler is None


def test_compiled_simulator_shape_and_dtype():
    theta = task_module.make_prior().sample(seed=jax.random.key(30), sample_shape=(NUM_SAMPLES,))

    data = simulate_compiled(jax.random.key(31), theta)
    repeated = simulate_compiled(jax.random.key(31), theta)
    other_key = simulate_compiled(jax.random.key(32), theta)

    assert data.shape == (NUM_SAMPLES, 10)
    assert data.dtype == jnp.float32
    assert np.all(np.isfinite(data))
    np.testing.assert_array_equal(data, repeated)
    assert not np.array_equal(data, other_key)


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(ValueError, match=r"sir simulator: theta must have shape \(n, 2\)"):
        task_module.simulate(jax.random.key(0), jnp.ones(2))
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        task_module.simulate(jax.random.key(0), jnp.ones((3, 3)))


def test_failed_solution_gives_nan_row():
    theta = np.array([SBIBM_THETA, [np.nan, 0.1], THETA_FAST], dtype=np.float32)
    valid_theta = np.array([SBIBM_THETA, SBIBM_THETA, THETA_FAST], dtype=np.float32)

    failed_data = np.asarray(task_module.simulate(jax.random.key(40), theta[1:2]))
    valid_data = np.asarray(task_module.simulate(jax.random.key(40), theta[0:1]))
    solution = np.asarray(task_module.solve_infected_fraction(theta))
    valid_solution = np.asarray(task_module.solve_infected_fraction(valid_theta))

    assert np.all(np.isnan(failed_data))
    assert np.all(np.isfinite(valid_data))
    assert np.all(np.isnan(solution[1]))
    # A failed row leaves the other rows of the batch unchanged.
    np.testing.assert_array_equal(solution[[0, 2]], valid_solution[[0, 2]])
