"""SLCP with 92 distractor dimensions, as sbibm's `slcp_distractors` task.

One simulation is the 8 SLCP values of `models.slcp` joined with 92 noise values that do not
depend on theta, 100 values in all. Output position j contains element `permutation[j]` of
`concatenate([slcp_data, noise])`, so the informative values are scattered among the noise.
Because the noise is independent of theta and of the SLCP draws, the posterior given all 100
values equals the SLCP posterior given the 8 informative values, and sbibm's SLCP reference
samples apply.

The noise is an equal-weight mixture of 20 multivariate Student-t distributions with 2
degrees of freedom. Component k has location `loc[k]` and scale matrix
`scale_tril[k] @ scale_tril[k].T`, with `scale_tril[k]` lower triangular. Some diagonal entries
of sbibm's factors are negative, so they are not Cholesky factors, but the scale matrix and
therefore the law are the same as with the signs flipped.

Provenance: sbibm 1.1.0 (`SLCP._generate_noise_dist_parameters` in `sbibm/tasks/slcp/task.py`)
drew these values with NumPy's global legacy generator seeded with 42, in this order:

1. `loc`: for each of the 20 components, 15 times 92 standard normal draws.
2. `scale_tril`: for each component, the lower triangle of a 92 x 92 standard normal matrix,
   plus a diagonal matrix of exp(92 standard normal draws), all times 3.
3. `permutation`: a random permutation of range(100).

It saved them as PyTorch files (`slcp/files/gmm.torch`, `slcp/files/permutation_idx.torch`).
`noise_parameters` repeats that construction with `np.random.RandomState(42)`, whose stream
NumPy keeps unchanged across releases, so no file is needed. The rebuilt permutation equals
sbibm's. The rebuilt float64 values differ from sbibm's stored ones by at most 3.6e-15
(measured with NumPy 2.4.6 on x86-64 Linux), a difference in the last bits of the platform's
`log` and `exp`. This is far below the float32 precision of the noise draws. The task tests
compare the rebuilt values with the raw storages of those files when sbibm is installed.

sbibm draws the noise in float64 and rounds it to float32. Here it is drawn in float32.

The default observation is drawn with JAX's random number generator, so it differs from the
observations published with sbibm. Use `models.get_task("slcp_distractors", observation=K)`
for sbibm's observation K and its reference samples when sbibm is installed.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models import slcp
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
    "NAME",
    "NOISE_SEED",
    "NUM_COMPONENTS",
    "NUM_DISTRACTORS",
    "THETA_DIM",
    "NoiseParameters",
    "informative_data",
    "make_prior",
    "make_task",
    "noise_parameters",
    "sample_distractors",
    "simulate",
    "true_parameters",
]

NAME = "slcp_distractors"
THETA_DIM = slcp.THETA_DIM
NUM_DISTRACTORS = 92
DATA_DIM = slcp.DATA_DIM + NUM_DISTRACTORS
NUM_COMPONENTS = 20
DEGREES_OF_FREEDOM = 2.0
NOISE_SEED = 42
"""Seed of the NumPy legacy generator from which sbibm drew the noise model."""

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("slcp_distractors")` draws its observation."""


class NoiseParameters(NamedTuple):
    """Noise model of sbibm's `slcp_distractors`, read-only arrays."""

    loc: np.ndarray
    """Component locations, shape `(20, 92)`, float64."""
    scale_tril: np.ndarray
    """Lower-triangular scale factors, shape `(20, 92, 92)`, float64."""
    permutation: np.ndarray
    """Column order of the output, shape `(100,)`, int64."""


@functools.cache
def noise_parameters() -> NoiseParameters:
    """Rebuild sbibm's noise model and column order from NumPy's legacy generator, seed 42."""
    rng = np.random.RandomState(NOISE_SEED)
    loc = np.array([15 * rng.normal(size=NUM_DISTRACTORS) for _ in range(NUM_COMPONENTS)])
    # Each factor takes its 92 x 92 draws before its 92 diagonal draws, as in sbibm.
    factors = []
    for _ in range(NUM_COMPONENTS):
        lower = np.tril(rng.normal(size=(NUM_DISTRACTORS, NUM_DISTRACTORS)))
        factors.append(lower + np.diag(np.exp(rng.normal(size=NUM_DISTRACTORS))))
    scale_tril = 3 * np.array(factors)
    permutation = rng.permutation(DATA_DIM).astype(np.int64)

    for array in (loc, scale_tril, permutation):
        array.flags.writeable = False
    return NoiseParameters(loc=loc, scale_tril=scale_tril, permutation=permutation)


@functools.cache
def _noise_arrays() -> tuple[jax.Array, jax.Array]:
    parameters = noise_parameters()
    return (
        jnp.asarray(parameters.loc, dtype=jnp.float32),
        jnp.asarray(parameters.scale_tril, dtype=jnp.float32),
    )


def make_prior() -> distrax.Distribution:
    """Build the prior U(-3, 3)^5 over theta, the same as SLCP's."""
    return slcp.make_prior()


def sample_distractors(key: jax.Array, num_samples: int) -> jax.Array:
    """Draw noise values from sbibm's Student-t mixture, shape `(num_samples, 92)`, float32."""
    loc, scale_tril = _noise_arrays()
    component_key, normal_key, factor_key = jax.random.split(key, 3)
    component = jax.random.randint(component_key, (num_samples,), 0, NUM_COMPONENTS)
    normal = jax.random.normal(normal_key, (num_samples, NUM_DISTRACTORS), dtype=jnp.float32)

    # Apply every component's factor and keep the rows of the drawn component. This costs
    # 20 small matrix products but never builds a (num_samples, 92, 92) gather of the factors.
    def apply_component(k, correlated):
        product = jnp.matmul(normal, scale_tril[k].T, precision=jax.lax.Precision.HIGHEST)
        return jnp.where((component == k)[:, None], product, correlated)

    correlated = jax.lax.fori_loop(0, NUM_COMPONENTS, apply_component, jnp.zeros_like(normal))
    factor = sample_student_t_factor(factor_key, num_samples, DEGREES_OF_FREEDOM)
    return loc[component] + correlated * factor[:, None]


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate SLCP data with 92 distractors for each row of `theta`.

    Args:
        key: JAX random key. `jax.random.split(key)` gives the key passed to `slcp.simulate`
            and the noise key.
        theta: Parameters, shape `(num_simulations, 5)`.

    Returns:
        Float32 data, shape `(num_simulations, 100)`, in sbibm's column order.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 5)`.
    """
    return simulate_with_distractors(
        key, theta, sample_distractors, noise_parameters().permutation
    )


def informative_data(data: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Select the 8 SLCP values from data of shape `(..., 100)`, in SLCP's order."""
    return data[..., informative_positions(noise_parameters().permutation)]


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(5,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the SLCP task with distractors, without a reference sampler.

    The observation is drawn as in `models.slcp.make_task`: split
    `jax.random.key(observation_seed)` into a prior key and a simulator key, draw theta from
    the prior with the first, and simulate once from theta with the second.

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 5 and `data_dim` 100.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
