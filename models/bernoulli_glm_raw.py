"""Bernoulli GLM benchmark task with the raw spike train as data, as defined in sbibm.

The prior and the spiking model are those of `models.bernoulli_glm`, whose docstring states
the definition. Here one simulation returns the 100 spike indicators themselves (0 or 1 per
time bin) instead of their summary statistics. The definition was checked against
`sbibm/tasks/bernoulli_glm/task.py` in sbibm 1.1.0 (github.com/sbi-benchmark/sbibm), which
builds this task as `BernoulliGLM(summary="raw")`.

For the same seed, the default observation of this task is the spike train whose summary
statistics are the default observation of `bernoulli_glm`, and both tasks share the same true
parameters. The task has no reference sampler.
"""

from __future__ import annotations

import jax
import numpy as np

from models import bernoulli_glm
from models._observation import draw_observation
from models.bernoulli_glm import THETA_DIM, make_prior
from ssnl.task import Task

__all__ = [
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "NAME",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "simulate",
    "true_parameters",
]

NAME = "bernoulli_glm_raw"
DATA_DIM = bernoulli_glm.NUM_TIME_BINS

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("bernoulli_glm_raw")` draws its
observation."""


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate a spike train of 100 bins for each row of `theta`.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(num_simulations, 10)`.

    Returns:
        Float32 spike indicators (0 or 1), shape `(num_simulations, 100)`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 10)`.
    """
    return bernoulli_glm.simulate_spikes(key, theta)


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(10,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the Bernoulli GLM task on raw spike trains, without a reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 10 and `data_dim` 100.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
