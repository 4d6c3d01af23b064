"""Gaussian linear benchmark task with a uniform prior, as defined in sbibm.

Parameters theta of dimension 10 have independent U(-1, 1) priors, and one simulation is
y ~ N(theta, 0.1 I). The 0.1 is a covariance, not a standard deviation: sbibm documents its
`simulator_scale=0.1` argument as a standard deviation but passes it as the precision matrix
inv(0.1 I).

The definition was checked against `sbibm/tasks/gaussian_linear_uniform/task.py` in sbibm 1.1.0
(github.com/sbi-benchmark/sbibm), with its default arguments `dim=10`, `prior_bound=1.0` and
`simulator_scale=0.1`.

The posterior is N(y, 0.1 I) truncated to the prior box [-1, 1]^10. Both factors are diagonal,
so the posterior is a product of independent one-dimensional truncated normals, and the task
ships an exact reference sampler that draws each coordinate by inverting its CDF. sbibm draws
the same distribution by rejecting whole vectors from N(y, 0.1 I) that leave the box.

The default observation is drawn with JAX's random number generator, so it differs from the
observations published with sbibm.
"""

from __future__ import annotations

import operator

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models._observation import check_theta, draw_observation
from models._truncated_normal import sample_truncated_normal
from ssnl.task import Task

__all__ = [
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "NAME",
    "NOISE_VARIANCE",
    "PRIOR_HIGH",
    "PRIOR_LOW",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "sample_reference_posterior",
    "simulate",
    "true_parameters",
]

NAME = "gaussian_linear_uniform"
THETA_DIM = 10
DATA_DIM = 10
PRIOR_LOW = -1.0
PRIOR_HIGH = 1.0
NOISE_VARIANCE = 0.1

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("gaussian_linear_uniform")` draws its
observation."""


def make_prior() -> distrax.Distribution:
    """Build the prior U(-1, 1)^10 over theta, event shape `(10,)`."""
    return distrax.Independent(
        distrax.Uniform(
            low=jnp.full(THETA_DIM, PRIOR_LOW, dtype=jnp.float32),
            high=jnp.full(THETA_DIM, PRIOR_HIGH, dtype=jnp.float32),
        ),
        reinterpreted_batch_ndims=1,
    )


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate y ~ N(theta, 0.1 I) for each row of `theta`.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(num_simulations, 10)`.

    Returns:
        Float32 data, shape `(num_simulations, 10)`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 10)`.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)
    noise = jax.random.normal(key, theta.shape, dtype=jnp.float32)
    return theta + np.float32(np.sqrt(NOISE_VARIANCE)) * noise


def sample_reference_posterior(
    key: jax.Array, observation: np.ndarray | jax.Array, num_samples: int
) -> jax.Array:
    """Draw exact posterior samples for one observation.

    With a flat prior on the box, the posterior density is proportional to the likelihood
    N(y; theta, 0.1 I) = N(theta; y, 0.1 I) inside the box and zero outside. Each coordinate
    theta_i is therefore independent and follows N(y_i, 0.1) truncated to [-1, 1].

    Args:
        key: JAX random key.
        observation: Observed data y, shape `(10,)`.
        num_samples: Number of samples, at least 1.

    Returns:
        Float32 samples, shape `(num_samples, 10)`, all inside [-1, 1]^10.

    Raises:
        ValueError: If `observation` does not have shape `(10,)` or is not finite, or if
            `num_samples` is below 1.
    """
    observation = jnp.asarray(observation, dtype=jnp.float32)
    if observation.shape != (DATA_DIM,):
        raise ValueError(
            f"{NAME} reference posterior: observation must have shape ({DATA_DIM},), got "
            f"shape {tuple(observation.shape)}."
        )
    if not bool(jnp.all(jnp.isfinite(observation))):
        raise ValueError(f"{NAME} reference posterior: observation must be finite.")
    num_samples = operator.index(num_samples)
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}.")

    return sample_truncated_normal(
        key,
        loc=observation,
        scale=np.float32(np.sqrt(NOISE_VARIANCE)),
        low=PRIOR_LOW,
        high=PRIOR_HIGH,
        shape=(num_samples, THETA_DIM),
    )


def _make_reference_sampler(observation: np.ndarray):
    def reference_sampler(key: jax.Array, num_samples: int) -> jax.Array:
        """Draw exact posterior samples, shape `(num_samples, 10)`, float32."""
        return sample_reference_posterior(key, observation, num_samples)

    return reference_sampler


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(10,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the Gaussian linear uniform task with an exact reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 10 and `data_dim` 10.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(
        name=NAME,
        prior=prior,
        simulator=simulate,
        observation=observation,
        reference_sampler=_make_reference_sampler(observation),
    )
