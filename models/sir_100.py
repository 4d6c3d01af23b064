"""SIR task observed on 100 days, a high-dimensional variant of `sir`.

This is not an sbibm task and has no published reference posterior. It keeps the prior, the
ODE, the population N = 10^6 with one infected at t = 0 and the Binomial(1000, I(t) / N)
counts of `models.sir`, which follows `sbibm/tasks/sir/task.py` of sbibm 1.1.0. Only the
observation times change: 100 evenly spaced times on sbibm's time span [0, 160] days,
t_k = 160 k / 99 for k = 0, ..., 99, in place of 10 of them. One simulation has 100 counts.
The noiseless values depend on only 2 parameters, so the data scatter around a
2-dimensional manifold in 100 dimensions, which makes the task a test for flows that reduce
dimension.

The solver is the one of `models.sir`, with the same tolerances. After compilation, 1,000
simulations took about 90 ms on 2 shared CPU cores (JAX 0.10, float32).

The default observation is drawn with JAX's random number generator. The task has no
reference sampler.
"""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models import sir
from models._observation import check_theta, draw_observation
from ssnl.task import Task

__all__ = [
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "NAME",
    "OBSERVATION_TIMES",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "simulate",
    "true_parameters",
]

NAME = "sir_100"
THETA_DIM = sir.THETA_DIM

OBSERVATION_TIMES = np.linspace(0.0, 160.0, 100)
"""100 evenly spaced days on [0, 160], both ends included."""

DATA_DIM = OBSERVATION_TIMES.size

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("sir_100")` draws its observation."""


def make_prior() -> distrax.Distribution:
    """Build the log-normal prior of `sir` over (beta, gamma)."""
    return sir.make_prior()


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate the infected counts on the 100 observation days.

    Args:
        key: JAX random key.
        theta: Parameters (beta, gamma), shape `(n, 2)`.

    Returns:
        Float32 counts out of 1000, shape `(n, 100)`, at `OBSERVATION_TIMES`. Rows where the
        solver failed are NaN.

    Raises:
        ValueError: If `theta` does not have shape `(n, 2)`.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)
    return sir.simulate_at_times(key, theta, OBSERVATION_TIMES)


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(2,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the 100-day SIR task, without a reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 2 and `data_dim` 100.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
