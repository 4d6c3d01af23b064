"""Tests for the Lotka-Volterra task against sbibm's definition and a SciPy ODE solution.

Expected values come from sbibm 1.1.0's `sbibm/tasks/lotka_volterra/task.py`: the ODE with
x(0) = 30 and y(0) = 1, every 21st point of the grid 0, 0.1, ..., 20, populations clamped to
[1e-10, 1e4], and log-normal noise of scale 0.1. The noiseless solution comes from
`scipy.integrate.solve_ivp` on the original, untransformed equations. The solver of
`models._ode` is tested here too, through a linear ODE with a closed-form solution.
"""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import models
from models import lotka_volterra as task_module
from models._ode import solve_autonomous
from ssnl.constraints import prior_support
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7, so even 200 entries fail together with
# probability about 1e-4. The keys are fixed, so the tests are deterministic.
NUM_STANDARD_ERRORS = 5.0
NUM_SAMPLES = 20_000

# sbibm's true parameters of its observation 1, a typical draw from the prior.
SBIBM_THETA = (0.6859157, 0.10761319, 0.88789904, 0.116794825)
# The prey fall to about 1e-40, far below the lower clamp 1e-10, from t = 4.2 on.
THETA_BELOW_CLAMP = (4.0, 0.05, 0.15, 0.03)
# The prey rise to about 1.6e4, above the upper clamp 1e4, at t = 6.3.
THETA_ABOVE_CLAMP = (1.0, 0.002, 1.0, 0.0005)
# The parameters with the largest solver error among 1,000 prior draws (fast cycles).
THETA_FAST = (2.3500996, 0.03279781, 1.108488, 0.08362958)

# Largest allowed |log u - log u_scipy|. Over 1,000 prior draws the largest error was 2e-4,
# set by float32 rounding of log values up to about 90 in size. 1e-3 leaves room for that and
# is still 1% of the noise standard deviation 0.1.
LOG_SOLUTION_TOLERANCE = 1e-3


def _reference_log_populations(theta, times) -> np.ndarray:
    """Solve the Lotka-Volterra ODE with SciPy in float64 and return log x and log y, (T, 2).

    The absolute tolerance 1e-60 is far below every population reached here, so the
    relative tolerance 1e-10 controls the error even at 1e-40.
    """
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


def _sbibm_files() -> Path | None:
    """Return sbibm's folder of Lotka-Volterra files, or None when sbibm is not installed."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tasks" / "lotka_volterra" / "files"


def _read_csv_row(path: Path) -> np.ndarray:
    """Read the single data row below the header of one of sbibm's CSV files."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)[0]


def test_observation_times_match_sbibm_grid():
    # sbibm saves 201 points 0, 0.1, ..., 20 and keeps every 21st.
    sbibm_grid = np.linspace(0.0, 20.0, 201)

    np.testing.assert_allclose(task_module.OBSERVATION_TIMES, sbibm_grid[::21], atol=1e-12)
    assert task_module.OBSERVATION_TIMES.size == 10
    assert task_module.DATA_DIM == 20


@pytest.mark.parametrize("theta", [SBIBM_THETA, THETA_BELOW_CLAMP, THETA_ABOVE_CLAMP, THETA_FAST])
def test_solution_matches_solve_ivp(theta):
    expected = _reference_log_populations(theta, task_module.OBSERVATION_TIMES)

    solution = task_module.solve_log_populations(np.array([theta], dtype=np.float32))

    assert solution.shape == (1, 10, 2)
    assert solution.dtype == jnp.float32
    np.testing.assert_allclose(solution[0], expected, rtol=0.0, atol=LOG_SOLUTION_TOLERANCE)


@pytest.mark.parametrize("theta", [SBIBM_THETA, THETA_BELOW_CLAMP, THETA_ABOVE_CLAMP])
def test_log_data_moments(theta):
    log_solution = _reference_log_populations(theta, task_module.OBSERVATION_TIMES)
    # sbibm clamps each population to [1e-10, 1e4] and adds N(0, 0.1^2) noise to its log.
    # The data lay out the prey at the 10 times, then the predators.
    expected_mean = np.clip(log_solution.T.reshape(-1), np.log(1e-10), np.log(1e4))
    expected_variance = 0.1**2
    batch = np.broadcast_to(np.array(theta, dtype=np.float32), (NUM_SAMPLES, 4))

    data = task_module.simulate(jax.random.key(10), batch)
    log_data = np.log(np.asarray(data, dtype=np.float64))

    mean_error = np.sqrt(expected_variance / NUM_SAMPLES)
    # Standard error of a Gaussian sample variance: variance * sqrt(2 / (n - 1)).
    variance_error = expected_variance * np.sqrt(2.0 / (NUM_SAMPLES - 1))
    # The ODE error, below LOG_SOLUTION_TOLERANCE, shifts the mean as well.
    mean_bound = NUM_STANDARD_ERRORS * mean_error + LOG_SOLUTION_TOLERANCE
    assert np.max(np.abs(log_data.mean(axis=0) - expected_mean)) < mean_bound
    assert np.max(np.abs(log_data.var(axis=0, ddof=1) - expected_variance)) < (
        NUM_STANDARD_ERRORS * variance_error
    )
    correlation = np.corrcoef(log_data, rowvar=False)
    off_diagonal = correlation[~np.eye(20, dtype=bool)]
    # A sample correlation of independent entries has standard error about 1 / sqrt(n).
    assert np.max(np.abs(off_diagonal)) < NUM_STANDARD_ERRORS / np.sqrt(NUM_SAMPLES)


def test_clamp_thetas_cross_clamp_bounds():
    # test_log_data_moments covers the clamp only if these solutions pass its bounds.
    below = _reference_log_populations(THETA_BELOW_CLAMP, task_module.OBSERVATION_TIMES)
    above = _reference_log_populations(THETA_ABOVE_CLAMP, task_module.OBSERVATION_TIMES)

    # Without the clamp, log data near the prey's 1e-40 would average about -92, not -23.
    assert np.min(below[:, 0]) < np.log(1e-30)
    assert np.max(above[:, 0]) > np.log(1.2e4)


@pytest.mark.skipif(_sbibm_files() is None, reason="sbibm is not installed")
def test_sbibm_observations_plausible():
    folders = [_sbibm_files() / f"num_observation_{number}" for number in range(1, 11)]
    theta = np.stack([_read_csv_row(folder / "true_parameters.csv") for folder in folders])
    observations = np.stack([_read_csv_row(folder / "observation.csv") for folder in folders])

    log_solution = np.asarray(task_module.solve_log_populations(theta.astype(np.float32)))
    # (observation, time, species) to sbibm's layout, prey at all times, then predators.
    log_mean = np.swapaxes(log_solution, 1, 2).reshape(10, 20)
    log_mean = np.clip(log_mean, np.log(1e-10), np.log(1e4))
    residuals = ((np.log(observations) - log_mean) / task_module.NOISE_SCALE).reshape(-1)

    # Under a matching simulator the 200 residuals are independent N(0, 1) draws, and some
    # residual exceeds 5 in size with probability about 1e-4. A wrong time grid, layout or
    # initial state puts residuals tens of standard deviations off.
    assert residuals.shape == (200,)
    assert np.max(np.abs(residuals)) < 5.0
    # Their sum of squares is chi-squared with 200 degrees of freedom. The bounds fail with
    # probability 2e-6 and catch a noise scale more than 25% too large or 23% too small.
    sum_of_squares = np.sum(residuals**2)
    assert stats.chi2.ppf(1e-6, 200) < sum_of_squares < stats.chi2.ppf(1 - 1e-6, 200)


def test_prior_log_moments():
    prior = task_module.make_prior()

    theta = prior.sample(seed=jax.random.key(20), sample_shape=(NUM_SAMPLES,))
    log_theta = np.log(np.asarray(theta, dtype=np.float64))

    assert theta.shape == (NUM_SAMPLES, 4)
    assert theta.dtype == jnp.float32
    assert np.all(np.asarray(theta) > 0.0)
    expected_loc = np.array([-0.125, -3.0, -0.125, -3.0])
    mean_error = 0.5 / np.sqrt(NUM_SAMPLES)
    std_error = 0.5 / np.sqrt(2.0 * (NUM_SAMPLES - 1))
    assert np.max(np.abs(log_theta.mean(axis=0) - expected_loc)) < NUM_STANDARD_ERRORS * mean_error
    assert np.max(np.abs(log_theta.std(axis=0, ddof=1) - 0.5)) < NUM_STANDARD_ERRORS * std_error


def test_prior_log_prob_matches_scipy():
    prior = task_module.make_prior()
    theta = np.array([[0.9, 0.05, 0.8, 0.04], [2.0, 0.1, 0.3, 0.01]], dtype=np.float32)
    loc = np.array([-0.125, -3.0, -0.125, -3.0])

    expected = stats.lognorm.logpdf(theta.astype(np.float64), s=0.5, scale=np.exp(loc)).sum(axis=1)

    # float32 evaluation of log densities between -4 and 6.
    np.testing.assert_allclose(prior.log_prob(theta), expected, rtol=1e-5, atol=1e-5)


def test_prior_support_is_positive():
    low, high = prior_support(task_module.make_prior())

    np.testing.assert_array_equal(low, np.zeros(4, dtype=np.float32))
    np.testing.assert_array_equal(high, np.full(4, np.inf, dtype=np.float32))


def test_get_task_builds_task():
    task = models.get_task("lotka_volterra")

    assert isinstance(task, Task)
    assert task.name == "lotka_volterra"
    assert task.theta_dim == 4
    assert task.data_dim == 20
    assert task.observation.shape == (20,)
    assert task.observation.dtype == np.float32
    assert np.all(task.observation > 0.0)
    assert task.reference_sampler is None


def test_simulator_shape_dtype_and_jit():
    theta = task_module.make_prior().sample(seed=jax.random.key(30), sample_shape=(3,))

    data = task_module.simulate(jax.random.key(31), theta)
    jitted_data = jax.jit(task_module.simulate)(jax.random.key(31), theta)

    assert data.shape == (3, 20)
    assert data.dtype == jnp.float32
    assert jitted_data.dtype == jnp.float32
    assert np.all(np.isfinite(data))
    # The compiled and the eager run may fuse float32 operations differently.
    np.testing.assert_allclose(jitted_data, data, rtol=1e-5)


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(
        ValueError, match=r"lotka_volterra simulator: theta must have shape \(n, 4\)"
    ):
        task_module.simulate(jax.random.key(0), jnp.ones(4))
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        task_module.simulate(jax.random.key(0), jnp.ones((3, 5)))


def test_failed_solution_gives_nan_row():
    theta = np.array([SBIBM_THETA, [np.nan, 0.1, 0.9, 0.1], THETA_FAST], dtype=np.float32)

    valid_theta = np.array([SBIBM_THETA, SBIBM_THETA, THETA_FAST], dtype=np.float32)

    data = np.asarray(task_module.simulate(jax.random.key(40), theta))
    solution = np.asarray(task_module.solve_log_populations(theta))
    valid_solution = np.asarray(task_module.solve_log_populations(valid_theta))

    assert np.all(np.isnan(data[1]))
    assert np.all(np.isfinite(data[[0, 2]]))
    # A failed row leaves the other rows of the batch unchanged.
    np.testing.assert_array_equal(solution[[0, 2]], valid_solution[[0, 2]])


def test_solver_matches_exponential_decay():
    def decay(state, rate):
        return -rate[0] * state

    times = np.array([0.5, 1.0, 1.0, 3.0])
    rates = np.array([[0.5], [2.0]], dtype=np.float32)

    states, success = solve_autonomous(
        decay,
        jnp.ones((2, 1)),
        rates,
        times,
        rtol=1e-7,
        atol=1e-7,
        initial_step=0.1,
        max_steps=1000,
    )

    expected = np.exp(-rates * times[None, :])[:, :, None]
    assert np.all(np.asarray(success))
    # Tolerance 1e-7 per step over tens of steps, plus float32 rounding.
    np.testing.assert_allclose(states, expected, rtol=1e-5)


def test_solver_step_limit_marks_failure():
    def decay(state, rate):
        return -rate[0] * state

    times = np.array([0.0, 0.01, 100.0])

    states, success = solve_autonomous(
        decay,
        jnp.ones((1, 1)),
        jnp.ones((1, 1)),
        times,
        rtol=1e-7,
        atol=1e-7,
        initial_step=0.01,
        max_steps=5,
    )

    # Two steps reach t = 0 and t = 0.01. The step grows at most 10x per step, so the three
    # remaining steps end by t = 0.01 + 0.1 + 1 + 10, short of t = 100.
    assert not bool(success[0])
    np.testing.assert_allclose(states[0, :2, 0], np.exp(-times[:2]), rtol=1e-6)
    assert np.isnan(states[0, 2, 0])


def test_solver_rejects_decreasing_times():
    with pytest.raises(ValueError, match="non-decreasing"):
        solve_autonomous(
            lambda state, parameters: -state,
            jnp.ones((1, 1)),
            jnp.ones((1, 1)),
            np.array([1.0, 0.5]),
            rtol=1e-6,
            atol=1e-6,
            initial_step=0.1,
            max_steps=10,
        )


def test_simulator_empty_batch():
    data = task_module.simulate(jax.random.key(0), jnp.zeros((0, 4)))

    assert data.shape == (0, 20)
    assert data.dtype == jnp.float32
