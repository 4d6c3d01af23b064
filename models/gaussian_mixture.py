"""Gaussian mixture benchmark task, as defined in sbibm.

Two parameters have independent U(-10, 10) priors. One simulation picks a component k with
probability 1/2 each and draws x ~ N(theta, s_k^2 I) with standard deviations s_0 = 1 and
s_1 = 0.1. One component is drawn per simulation and shared by both coordinates, so each
coordinate has mean theta_i and variance 0.5 * 1 + 0.5 * 0.01 = 0.505, and the coordinates
are uncorrelated but not independent.

The definition was checked against `sbibm/tasks/gaussian_mixture/task.py` in sbibm 1.1.0
(github.com/sbi-benchmark/sbibm), with its default arguments `dim=2` and `prior_bound=10.0`.
That file draws one mixture index per row and broadcasts its scale over both coordinates, as
here. The package also contains `task_fix.py`, which `sbibm.get_task` does not load.

As a function of theta, N(x; theta, s_k^2 I) = N(theta; x, s_k^2 I), so the posterior is the
two-component mixture 0.5 N(x, I) + 0.5 N(x, 0.01 I) truncated to the prior box. Truncation
rescales component k by its mass inside the box, and the task ships an exact reference sampler
that draws the component with those weights and then each coordinate from a one-dimensional
truncated normal. sbibm draws the same distribution by rejection.

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
from models._truncated_normal import log_standard_normal_mass, sample_truncated_normal
from ssnl.task import Task

__all__ = [
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "MIXTURE_SCALES",
    "MIXTURE_WEIGHTS",
    "NAME",
    "PRIOR_HIGH",
    "PRIOR_LOW",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "sample_reference_posterior",
    "simulate",
    "true_parameters",
]

NAME = "gaussian_mixture"
THETA_DIM = 2
DATA_DIM = 2
PRIOR_LOW = -10.0
PRIOR_HIGH = 10.0

MIXTURE_WEIGHTS = (0.5, 0.5)
"""Probabilities of the two components."""

MIXTURE_SCALES = (1.0, 0.1)
"""Standard deviations of the two components."""

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("gaussian_mixture")` draws its
observation."""


def make_prior() -> distrax.Distribution:
    """Build the prior U(-10, 10)^2 over theta, event shape `(2,)`."""
    return distrax.Independent(
        distrax.Uniform(
            low=jnp.full(THETA_DIM, PRIOR_LOW, dtype=jnp.float32),
            high=jnp.full(THETA_DIM, PRIOR_HIGH, dtype=jnp.float32),
        ),
        reinterpreted_batch_ndims=1,
    )


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate x ~ 0.5 N(theta, I) + 0.5 N(theta, 0.01 I) for each row of `theta`.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(num_simulations, 2)`.

    Returns:
        Float32 data, shape `(num_simulations, 2)`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 2)`.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)

    component_key, noise_key = jax.random.split(key)
    num_simulations = theta.shape[0]
    component = jax.random.categorical(
        component_key, jnp.log(jnp.asarray(MIXTURE_WEIGHTS)), shape=(num_simulations,)
    )
    scale = jnp.asarray(MIXTURE_SCALES, dtype=jnp.float32)[component]

    noise = jax.random.normal(noise_key, theta.shape, dtype=jnp.float32)
    return theta + scale[:, None] * noise


def _posterior_log_weights(observation: jax.Array) -> jax.Array:
    """Compute the log weights of the two posterior components after truncation to the box.

    The weight of component k is proportional to MIXTURE_WEIGHTS[k] times the product over
    coordinates of P(low < theta_i < high) under N(x_i, s_k^2).
    """
    scales = jnp.asarray(MIXTURE_SCALES, dtype=jnp.float32)[:, None]
    standard_low = (PRIOR_LOW - observation[None, :]) / scales
    standard_high = (PRIOR_HIGH - observation[None, :]) / scales
    log_box_mass = jnp.sum(log_standard_normal_mass(standard_low, standard_high), axis=1)
    log_weights = jnp.log(jnp.asarray(MIXTURE_WEIGHTS, dtype=jnp.float32)) + log_box_mass
    return log_weights - jax.scipy.special.logsumexp(log_weights)


def sample_reference_posterior(
    key: jax.Array, observation: np.ndarray | jax.Array, num_samples: int
) -> jax.Array:
    """Draw exact posterior samples for one observation.

    Args:
        key: JAX random key.
        observation: Observed data x, shape `(2,)`.
        num_samples: Number of samples, at least 1.

    Returns:
        Float32 samples, shape `(num_samples, 2)`, all inside [-10, 10]^2.

    Raises:
        ValueError: If `observation` does not have shape `(2,)` or is not finite, or if
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

    component_key, wide_key, narrow_key = jax.random.split(key, 3)
    component = jax.random.categorical(
        component_key, _posterior_log_weights(observation), shape=(num_samples,)
    )

    # Draw from both truncated components and keep the chosen one per sample.
    shape = (num_samples, THETA_DIM)
    wide_scale, narrow_scale = MIXTURE_SCALES
    wide = sample_truncated_normal(
        wide_key, observation, np.float32(wide_scale), PRIOR_LOW, PRIOR_HIGH, shape
    )
    narrow = sample_truncated_normal(
        narrow_key, observation, np.float32(narrow_scale), PRIOR_LOW, PRIOR_HIGH, shape
    )
    return jnp.where(component[:, None] == 0, wide, narrow)


def _make_reference_sampler(observation: np.ndarray):
    def reference_sampler(key: jax.Array, num_samples: int) -> jax.Array:
        """Draw exact posterior samples, shape `(num_samples, 2)`, float32."""
        return sample_reference_posterior(key, observation, num_samples)

    return reference_sampler


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(2,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the Gaussian mixture task with an exact reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 2 and `data_dim` 2.
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
