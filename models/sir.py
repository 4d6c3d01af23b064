"""SIR epidemic benchmark task, as defined in sbibm.

Two parameters theta = (beta, gamma), the contact rate and the recovery rate per day, have
independent log-normal priors, log beta ~ N(log 0.4, 0.5^2) and log gamma ~ N(log 0.125,
0.2^2). In a population of N = 10^6, the susceptible S, infected I and recovered R follow

    dS/dt = -beta S I / N,    dI/dt = beta S I / N - gamma I,    dR/dt = gamma I,

from S(0) = N - 1, I(0) = 1, R(0) = 0. sbibm saves the solution every day on [0, 160] (161
times) and keeps I at every 17th of them, the 10 days t = 0, 17, 34, ..., 153. One simulation
is 10 independent counts

    data_k ~ Binomial(1000, clamp(I(t_k) / N, 0, 1)),

stored as float32. Where the ODE solver fails, sbibm returns a row of NaN, and so does
`simulate` here.

The definition was checked against `sbibm/tasks/sir/task.py` of sbibm 1.1.0
(github.com/sbi-benchmark/sbibm). sbibm solves the ODE with the Tsit5 method of Julia's
DifferentialEquations.jl at relative and absolute tolerance 1e-8 (the defaults of
diffeqtorch's `DiffEq`, which sbibm uses). Here `models._ode.solve_autonomous` integrates
the equations for s = log(S / N) and i = log(I / N),

    ds/dt = -beta exp(i),    di/dt = beta exp(s) - gamma,

in float32 with relative and absolute tolerance 1e-7. R does not enter the data and is not
integrated. Early in the epidemic S falls by a few hundredths per step, less than the float32
spacing 1/16 of values near 10^6, but float32 resolves the same change in log(S / N).

The solution was compared with `scipy.integrate.solve_ivp` (DOP853, rtol 1e-12) at 1,000
parameter draws from the prior. The largest relative error of I / N at the 10 observation days
was 6.7e-6 and the median 1.2e-6. The largest error of a count's mean 1000 I / N was 4.5e-4,
and the error was at most 3.3e-5 of the count's Binomial standard deviation. After
compilation, 1,000 simulations took about 15 ms on 2 shared CPU cores (JAX 0.10, float32).

The default observation is drawn with JAX's random number generator, so it differs from the
observations published with sbibm. The task has no reference sampler, because sbibm's
reference posteriors come from MCMC followed by rejection sampling.
"""

from __future__ import annotations

import math

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
    "INITIAL_INFECTED",
    "MAX_STEPS",
    "NAME",
    "NUM_TRIALS",
    "OBSERVATION_TIMES",
    "POPULATION",
    "PRIOR_LOC",
    "PRIOR_SCALE",
    "RTOL",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "simulate",
    "simulate_at_times",
    "solve_infected_fraction",
    "true_parameters",
]

NAME = "sir"
THETA_DIM = 2

PRIOR_LOC = (math.log(0.4), math.log(0.125))
"""Means of log beta and log gamma under the prior."""

PRIOR_SCALE = (0.5, 0.2)
"""Standard deviations of log beta and log gamma under the prior."""

POPULATION = 1e6
"""Total population N."""

INITIAL_INFECTED = 1.0
"""Infected at t = 0. With R(0) = 0, the susceptible are S(0) = N - 1."""

OBSERVATION_TIMES = np.arange(0, 161, 17, dtype=np.float64)
"""Every 17th day of sbibm's grid 0, 1, ..., 160: t = 0, 17, ..., 153."""

DATA_DIM = OBSERVATION_TIMES.size

NUM_TRIALS = 1000
"""Number of Binomial trials of each count (`total_count` in sbibm)."""

RTOL = 1e-7
ATOL = 1e-7
"""Tolerances of the adaptive solver, applied to log(S / N) and log(I / N)."""

INITIAL_STEP = 0.01

MAX_STEPS = 10_000
"""Attempted steps after which a row counts as failed. All of 100,000 prior draws finished
within 300, so the cap stops only parameters far out in the tails of the prior."""

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("sir")` draws its observation."""


def make_prior() -> distrax.Distribution:
    """Build the independent log-normal prior over (beta, gamma), event shape `(2,)`.

    The TensorFlow Probability `LogNormal` is wrapped in `distrax.Independent`, so
    `ssnl.constraints.prior_support` recognises the support (0, inf) of each parameter.
    """
    return distrax.Independent(
        tfp.distributions.LogNormal(
            loc=jnp.asarray(PRIOR_LOC, dtype=jnp.float32),
            scale=jnp.asarray(PRIOR_SCALE, dtype=jnp.float32),
        ),
        reinterpreted_batch_ndims=1,
    )


def _log_vector_field(log_fractions: jax.Array, theta: jax.Array) -> jax.Array:
    beta, gamma = theta[0], theta[1]
    log_susceptible, log_infected = log_fractions[0], log_fractions[1]
    return jnp.stack([-beta * jnp.exp(log_infected), beta * jnp.exp(log_susceptible) - gamma])


def solve_infected_fraction(theta: jax.Array, times=OBSERVATION_TIMES) -> jax.Array:
    """Solve the SIR ODE and return the infected fraction I / N at `times`.

    Args:
        theta: Parameters (beta, gamma), shape `(n, 2)`.
        times: Output times in days, a concrete non-decreasing 1-D array with values in
            [0, inf).

    Returns:
        Float32 array of shape `(n, len(times))`. Rows where the solver failed are NaN
        throughout.

    Raises:
        ValueError: If `theta` does not have shape `(n, 2)`, or `times` is invalid.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)

    # log(1 - 1e-6) and log(1e-6), computed in float64 before rounding to float32.
    initial_fraction = INITIAL_INFECTED / POPULATION
    initial_log_fractions = np.array(
        [math.log1p(-initial_fraction), math.log(initial_fraction)], dtype=np.float32
    )
    initial_state = jnp.broadcast_to(initial_log_fractions, (theta.shape[0], 2))
    log_fractions, success = solve_autonomous(
        _log_vector_field,
        initial_state,
        theta,
        times,
        rtol=RTOL,
        atol=ATOL,
        initial_step=INITIAL_STEP,
        max_steps=MAX_STEPS,
    )
    infected_fraction = jnp.exp(log_fractions[:, :, 1])
    return jnp.where(success[:, None], infected_fraction, jnp.nan)


def simulate_at_times(key: jax.Array, theta: jax.Array, times) -> jax.Array:
    """Simulate Binomial(1000, I(t) / N) counts at `times`, as float32.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(n, 2)`.
        times: Output times in days, a concrete non-decreasing 1-D array with values in
            [0, inf).

    Returns:
        Float32 counts, shape `(n, len(times))`. Rows where the solver failed are NaN.

    Raises:
        ValueError: If `theta` does not have shape `(n, 2)`, or `times` is invalid.
    """
    infected_fraction = solve_infected_fraction(theta, times)
    success = jnp.all(jnp.isfinite(infected_fraction), axis=1, keepdims=True)

    # Failed rows draw with p = 0, so that no NaN enters the sampler, and are set to NaN after.
    probability = jnp.where(success, jnp.clip(infected_fraction, 0.0, 1.0), 0.0)
    counts = jax.random.binomial(
        key, float(NUM_TRIALS), probability, shape=probability.shape, dtype=jnp.float32
    )
    return jnp.where(success, counts, jnp.nan)


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate the infected counts on the 10 observation days.

    Args:
        key: JAX random key.
        theta: Parameters (beta, gamma), shape `(n, 2)`.

    Returns:
        Float32 counts out of 1000, shape `(n, 10)`, at `OBSERVATION_TIMES`. Rows where the
        solver failed are NaN.

    Raises:
        ValueError: If `theta` does not have shape `(n, 2)`.
    """
    return simulate_at_times(key, theta, OBSERVATION_TIMES)


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(2,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the SIR task, without a reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 2 and `data_dim` 10.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
