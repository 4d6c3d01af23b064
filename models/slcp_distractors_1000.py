"""SLCP with 992 distractor dimensions, 1000 data values in all.

A higher-dimensional version of sbibm's `slcp_distractors` (see `models.slcp_distractors`),
defined here and not part of sbibm. One simulation is the 8 SLCP values of `models.slcp`
joined with 992 noise values that do not depend on theta. Output position j contains element
`permutation[j]` of `concatenate([slcp_data, noise])`. Because the noise is independent of
theta and of the SLCP draws, the posterior given all 1000 values equals the SLCP posterior
given the 8 informative values, so SLCP's reference posterior is exact for this task too.

The noise is an equal-weight mixture of 20 multivariate Student-t distributions with 2
degrees of freedom, like sbibm's. A full 992 x 992 scale factor per component would take 20
million values, so component k uses a diagonal scaling of a shared low-rank-plus-identity
matrix instead:

    noise = loc[k] + scale[k] * (factor @ u + v) * sqrt(2 / w),

with u ~ N(0, I_16), v ~ N(0, I_992) and w ~ chi-squared(2). The scale matrix of component k
is `diag(scale[k]) @ (factor @ factor.T + I) @ diag(scale[k])`, so the noise values are
correlated, heavy-tailed and multimodal. `noise_parameters` builds the values with
`np.random.RandomState(1000)`, whose stream NumPy keeps unchanged across releases, in this
order:

1. `loc`, shape `(20, 992)`: 15 times standard normal draws.
2. `scale`, shape `(20, 992)`: 3 times exp of standard normal draws.
3. `factor`, shape `(992, 16)`: standard normal draws.
4. `permutation`: a random permutation of range(1000).

Observations: `make_task(observation_seed)` draws theta and the data with JAX's random number
generator, as the other tasks do. With sbibm installed, `models.get_task(NAME, observation=K)`
calls `load_sbibm_observation(K)`, which takes sbibm's SLCP observation K for the 8
informative values and draws the noise with `jax.random.key(K)`, and the task's reference
samples are sbibm's SLCP reference samples for observation K.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models import sbibm_data, slcp
from models._distractors import (
    informative_positions,
    sample_student_t_factor,
    simulate_with_distractors,
)
from models._observation import draw_observation
from ssnl.task import Task

__all__ = [
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "DEGREES_OF_FREEDOM",
    "FACTOR_RANK",
    "NAME",
    "NOISE_SEED",
    "NUM_COMPONENTS",
    "NUM_DISTRACTORS",
    "SBIBM_REFERENCE_TASK",
    "THETA_DIM",
    "NoiseParameters",
    "informative_data",
    "load_sbibm_observation",
    "make_prior",
    "make_task",
    "noise_parameters",
    "sample_distractors",
    "simulate",
    "true_parameters",
]

NAME = "slcp_distractors_1000"
THETA_DIM = slcp.THETA_DIM
NUM_DISTRACTORS = 992
DATA_DIM = slcp.DATA_DIM + NUM_DISTRACTORS
NUM_COMPONENTS = 20
DEGREES_OF_FREEDOM = 2.0
FACTOR_RANK = 16
NOISE_SEED = 1000
"""Seed of the NumPy legacy generator that builds the noise model."""

SBIBM_REFERENCE_TASK = "slcp"
"""sbibm task whose reference samples and informative observation values this task uses."""

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("slcp_distractors_1000")` draws its
observation."""


class NoiseParameters(NamedTuple):
    """Noise model of `slcp_distractors_1000`, read-only arrays."""

    loc: np.ndarray
    """Component locations, shape `(20, 992)`, float64."""
    scale: np.ndarray
    """Positive per-component scales, shape `(20, 992)`, float64."""
    factor: np.ndarray
    """Shared low-rank factor, shape `(992, 16)`, float64."""
    permutation: np.ndarray
    """Column order of the output, shape `(1000,)`, int64."""


@functools.cache
def noise_parameters() -> NoiseParameters:
    """Build the noise model and column order from NumPy's legacy generator, seed 1000."""
    rng = np.random.RandomState(NOISE_SEED)
    loc = 15 * rng.normal(size=(NUM_COMPONENTS, NUM_DISTRACTORS))
    scale = 3 * np.exp(rng.normal(size=(NUM_COMPONENTS, NUM_DISTRACTORS)))
    factor = rng.normal(size=(NUM_DISTRACTORS, FACTOR_RANK))
    permutation = rng.permutation(DATA_DIM).astype(np.int64)

    for array in (loc, scale, factor, permutation):
        array.flags.writeable = False
    return NoiseParameters(loc=loc, scale=scale, factor=factor, permutation=permutation)


@functools.cache
def _noise_arrays() -> tuple[jax.Array, jax.Array, jax.Array]:
    parameters = noise_parameters()
    return (
        jnp.asarray(parameters.loc, dtype=jnp.float32),
        jnp.asarray(parameters.scale, dtype=jnp.float32),
        jnp.asarray(parameters.factor, dtype=jnp.float32),
    )


def make_prior() -> distrax.Distribution:
    """Build the prior U(-3, 3)^5 over theta, the same as SLCP's."""
    return slcp.make_prior()


def sample_distractors(key: jax.Array, num_samples: int) -> jax.Array:
    """Draw noise values from the Student-t mixture, shape `(num_samples, 992)`, float32."""
    loc, scale, factor = _noise_arrays()
    component_key, shared_key, own_key, factor_key = jax.random.split(key, 4)
    component = jax.random.randint(component_key, (num_samples,), 0, NUM_COMPONENTS)
    shared = jax.random.normal(shared_key, (num_samples, FACTOR_RANK), dtype=jnp.float32)
    own = jax.random.normal(own_key, (num_samples, NUM_DISTRACTORS), dtype=jnp.float32)

    correlated = jnp.matmul(shared, factor.T, precision=jax.lax.Precision.HIGHEST) + own
    t_factor = sample_student_t_factor(factor_key, num_samples, DEGREES_OF_FREEDOM)
    return loc[component] + scale[component] * correlated * t_factor[:, None]


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate SLCP data with 992 distractors for each row of `theta`.

    Args:
        key: JAX random key. `jax.random.split(key)` gives the key passed to `slcp.simulate`
            and the noise key.
        theta: Parameters, shape `(num_simulations, 5)`.

    Returns:
        Float32 data, shape `(num_simulations, 1000)`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 5)`.
    """
    return simulate_with_distractors(
        key, theta, sample_distractors, noise_parameters().permutation
    )


def informative_data(data: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Select the 8 SLCP values from data of shape `(..., 1000)`, in SLCP's order."""
    return data[..., informative_positions(noise_parameters().permutation)]


def load_sbibm_observation(number: int) -> np.ndarray:
    """Build observation `number` from sbibm's SLCP observation, shape `(1000,)`, float32.

    The 8 informative values are sbibm's SLCP observation `number`. The noise is one draw of
    `sample_distractors(jax.random.key(number), 1)`.

    Raises:
        The errors of `models.sbibm_data.load_observation`, for example `ModuleNotFoundError`
        when sbibm is not installed.
    """
    informative = sbibm_data.load_observation(SBIBM_REFERENCE_TASK, number)
    noise = np.asarray(sample_distractors(jax.random.key(number), 1)[0], dtype=np.float32)
    combined = np.concatenate([informative, noise])
    return combined[noise_parameters().permutation]


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(5,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the SLCP task with 992 distractors, without a reference sampler.

    The observation is drawn as in `models.slcp.make_task`: split
    `jax.random.key(observation_seed)` into a prior key and a simulator key, draw theta from
    the prior with the first, and simulate once from theta with the second.

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 5 and `data_dim` 1000.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
