"""Lotka-Volterra task observed at 100 times, a high-dimensional variant of `lotka_volterra`.

This is not an sbibm task and has no published reference posterior. It keeps the prior, the
ODE, the initial populations x(0) = 30 and y(0) = 1, the clamping to [1e-10, 1e4] and the
log-normal noise with standard deviation 0.1 of `models.lotka_volterra`, which follows
`sbibm/tasks/lotka_volterra/task.py` of sbibm 1.1.0. Only the observation times change: 100
evenly spaced times on sbibm's time span [0, 20], t_k = 20 k / 99 for k = 0, ..., 99, in place
of 10 of them. One simulation has 200 values, the prey at the 100 times, then the predators.
The noiseless values depend on only 4 parameters, so the data scatter around a
4-dimensional manifold in 200 dimensions, which makes the task a test for flows that reduce
dimension.

The solver is the one of `models.lotka_volterra`, with the same tolerances. After
compilation, 1,000 simulations took about 50 ms on 2 shared CPU cores (JAX 0.10, float32).

The default observation is drawn with JAX's random number generator. The task has no
reference sampler.
"""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models import lotka_volterra
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

NAME = "lotka_volterra_100"
THETA_DIM = lotka_volterra.THETA_DIM

OBSERVATION_TIMES = np.linspace(0.0, 20.0, 100)
"""100 evenly spaced times on [0, 20], both ends included."""

DATA_DIM = 2 * OBSERVATION_TIMES.size

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("lotka_volterra_100")` draws its observation."""


def make_prior() -> distrax.Distribution:
    """Build the log-normal prior of `lotka_volterra` over (alpha, beta, gamma, delta)."""
    return lotka_volterra.make_prior()


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate noisy prey and predator populations at the 100 observation times.

    Args:
        key: JAX random key.
        theta: Parameters (alpha, beta, gamma, delta), shape `(n, 4)`.

    Returns:
        Float32 data, shape `(n, 200)`: prey at `OBSERVATION_TIMES`, then predators. Rows
        where the solver failed are NaN.

    Raises:
        ValueError: If `theta` does not have shape `(n, 4)`.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)
    return lotka_volterra.simulate_at_times(key, theta, OBSERVATION_TIMES)


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(4,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the 100-time Lotka-Volterra task, without a reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 4 and `data_dim` 200.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
