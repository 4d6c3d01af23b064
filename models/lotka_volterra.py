"""Lotka-Volterra predator-prey benchmark task, as defined in sbibm.

Four parameters theta = (alpha, beta, gamma, delta) have independent log-normal priors,
log alpha, log gamma ~ N(-0.125, 0.5^2) and log beta, log delta ~ N(-3, 0.5^2). Prey x and
predators y follow

    dx/dt = alpha x - beta x y,    dy/dt = -gamma y + delta x y,

from x(0) = 30, y(0) = 1. sbibm saves the solution every 0.1 time units on [0, 20] (201 times)
and keeps every 21st of them, the 10 times t = 0, 2.1, 4.2, ..., 18.9. One simulation is

    data = exp(log(clamp(u, 1e-10, 1e4)) + 0.1 z),  z ~ N(0, I),

for the 20 values u = (x(t_0), ..., x(t_9), y(t_0), ..., y(t_9)), prey first. Where the ODE
solver fails, sbibm returns a row of NaN, and so does `simulate` here.

The definition was checked against `sbibm/tasks/lotka_volterra/task.py` of sbibm 1.1.0
(github.com/sbi-benchmark/sbibm). sbibm solves the ODE with the Tsit5 method of Julia's
DifferentialEquations.jl at relative and absolute tolerance 1e-8 (the defaults of
diffeqtorch's `DiffEq`, which sbibm uses). Here `models._ode.solve_autonomous` integrates
the equations for log x and log y,

    d(log x)/dt = alpha - beta y,    d(log y)/dt = delta x - gamma,

in float32 with relative and absolute tolerance 1e-7. Prior draws reach populations of 1e-46,
below the smallest normal float32 number 1.2e-38, and log coordinates keep full relative
precision there.
The solution was compared with `scipy.integrate.solve_ivp` (DOP853, rtol 1e-12) at 1,000
parameter draws from the prior. The largest error of log x or log y at the 10 observation
times was 2.0e-4 and the median 8.6e-6, so the error is at most 2e-3 of the noise standard
deviation 0.1. After compilation, 1,000 simulations took about 10 ms on 2 shared CPU cores
(JAX 0.10, float32).

NOTE: Where the exact solution falls below about 1e-8, the error that sbibm's solver allows
(absolute tolerance 1e-8) is as large as the value itself, while this solver keeps its
relative accuracy. The clamped data of the two simulators can then differ, which was not
checked against Julia. In 200,000 prior draws, 0.7% had a population below 1e-8 at an
observation time. At the true parameters of sbibm's 10 stored observations, the smallest
population at an observation time is 0.006.

The default observation is drawn with JAX's random number generator, so it differs from the
observations published with sbibm. The task has no reference sampler, because sbibm's
reference posteriors come from MCMC followed by rejection sampling.
"""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from tensorflow_probability.substrates import jax as tfp

from models._observation import check_theta, draw_observation
from models._ode import solve_autonomous
from ssnl.task import Task

__all__ = [
    "ATOL",
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "INITIAL_POPULATIONS",
    "MAX_STEPS",
    "NAME",
    "NOISE_SCALE",
    "OBSERVATION_TIMES",
    "POPULATION_CLAMP",
    "PRIOR_LOC",
    "PRIOR_SCALE",
    "RTOL",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "simulate",
    "simulate_at_times",
    "solve_log_populations",
    "true_parameters",
]

NAME = "lotka_volterra"
THETA_DIM = 4

PRIOR_LOC = (-0.125, -3.0, -0.125, -3.0)
"""Means of log alpha, log beta, log gamma and log delta under the prior."""

PRIOR_SCALE = 0.5
"""Standard deviation of each log parameter under the prior."""

INITIAL_POPULATIONS = (30.0, 1.0)
"""Prey and predator populations at t = 0."""

OBSERVATION_TIMES = np.arange(0, 201, 21) / 10.0
"""Every 21st point of sbibm's grid 0, 0.1, ..., 20: t = 0, 2.1, ..., 18.9."""

DATA_DIM = 2 * OBSERVATION_TIMES.size

NOISE_SCALE = 0.1
"""Standard deviation of the Gaussian noise on log populations."""

POPULATION_CLAMP = (1e-10, 1e4)
"""Bounds to which sbibm clamps the populations before taking the log."""

RTOL = 1e-7
ATOL = 1e-7
"""Tolerances of the adaptive solver, applied to log x and log y."""

INITIAL_STEP = 0.01

MAX_STEPS = 10_000
"""Attempted steps after which a row counts as failed. All of 100,000 prior draws finished
within 500, so the cap stops only parameters far out in the tails of the prior."""

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("lotka_volterra")` draws its observation."""


def make_prior() -> distrax.Distribution:
    """Build the independent log-normal prior over (alpha, beta, gamma, delta), event shape `(4,)`.

    The TensorFlow Probability `LogNormal` is wrapped in `distrax.Independent`, so
    `ssnl.constraints.prior_support` recognises the support (0, inf) of each parameter.
    """
    return distrax.Independent(
        tfp.distributions.LogNormal(
            loc=jnp.asarray(PRIOR_LOC, dtype=jnp.float32),
            scale=jnp.full(THETA_DIM, PRIOR_SCALE, dtype=jnp.float32),
        ),
        reinterpreted_batch_ndims=1,
    )


def _log_vector_field(log_populations: jax.Array, theta: jax.Array) -> jax.Array:
    alpha, beta, gamma, delta = theta[0], theta[1], theta[2], theta[3]
    log_prey, log_predators = log_populations[0], log_populations[1]
    return jnp.stack([alpha - beta * jnp.exp(log_predators), delta * jnp.exp(log_prey) - gamma])


def solve_log_populations(theta: jax.Array, times=OBSERVATION_TIMES) -> jax.Array:
    """Solve the Lotka-Volterra ODE and return log prey and log predators at `times`.

    Args:
        theta: Parameters (alpha, beta, gamma, delta), shape `(n, 4)`.
        times: Output times, a concrete non-decreasing 1-D array with values in [0, inf).

    Returns:
        Float32 array of shape `(n, len(times), 2)` with log x and log y. Rows where the solver
        failed are NaN throughout.

    Raises:
        ValueError: If `theta` does not have shape `(n, 4)`, or `times` is invalid.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)

    initial_state = jnp.broadcast_to(
        jnp.log(jnp.asarray(INITIAL_POPULATIONS, dtype=jnp.float32)), (theta.shape[0], 2)
    )
    log_populations, success = solve_autonomous(
        _log_vector_field,
        initial_state,
        theta,
        times,
        rtol=RTOL,
        atol=ATOL,
        initial_step=INITIAL_STEP,
        max_steps=MAX_STEPS,
    )
    return jnp.where(success[:, None, None], log_populations, jnp.nan)


def simulate_at_times(key: jax.Array, theta: jax.Array, times) -> jax.Array:
    """Simulate noisy populations at `times`, with sbibm's clamping and log-normal noise.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(n, 4)`.
        times: Output times, a concrete non-decreasing 1-D array with values in [0, inf).

    Returns:
        Float32 data, shape `(n, 2 * len(times))`: the prey at all times, then the predators.
        Rows where the solver failed are NaN.

    Raises:
        ValueError: If `theta` does not have shape `(n, 4)`, or `times` is invalid.
    """
    log_populations = solve_log_populations(theta, times)
    num_simulations, num_times, _ = log_populations.shape

    # (n, times, species) to (n, species, times), so the prey come first.
    log_populations = jnp.swapaxes(log_populations, 1, 2).reshape(num_simulations, 2 * num_times)
    log_low, log_high = np.log(POPULATION_CLAMP[0]), np.log(POPULATION_CLAMP[1])
    log_mean = jnp.clip(log_populations, log_low, log_high)

    noise = jax.random.normal(key, log_mean.shape, dtype=jnp.float32)
    return jnp.exp(log_mean + NOISE_SCALE * noise)


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate noisy prey and predator populations at the 10 observation times.

    Args:
        key: JAX random key.
        theta: Parameters (alpha, beta, gamma, delta), shape `(n, 4)`.

    Returns:
        Float32 data, shape `(n, 20)`: prey at `OBSERVATION_TIMES`, then predators. Rows
        where the solver failed are NaN.

    Raises:
        ValueError: If `theta` does not have shape `(n, 4)`.
    """
    return simulate_at_times(key, theta, OBSERVATION_TIMES)


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(4,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the Lotka-Volterra task, without a reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 4 and `data_dim` 20.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
