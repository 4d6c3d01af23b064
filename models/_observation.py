"""Seeded construction of a task's default observation, shared by the benchmark tasks."""

from __future__ import annotations

from collections.abc import Callable

import distrax
import jax
import numpy as np


def draw_observation(
    prior: distrax.Distribution,
    simulator: Callable[[jax.Array, jax.Array], jax.Array],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw true parameters from the prior and simulate one data set from them.

    The construction is, step by step::

        prior_key, simulator_key = jax.random.split(jax.random.key(seed))
        theta = prior.sample(seed=prior_key, sample_shape=(1,))
        observation = simulator(simulator_key, theta)[0]

    NOTE: The values depend on JAX's default PRNG implementation (threefry2x32). They are
    reproducible for a fixed JAX version and PRNG setting, but a JAX release that changes
    the random bit generation would change them.

    Args:
        prior: Distribution over parameters with event shape `(theta_dim,)`.
        simulator: `simulator(key, theta)` mapping `(n, theta_dim)` to `(n, data_dim)`.
        seed: Integer seed for `jax.random.key`.

    Returns:
        The true parameters, shape `(theta_dim,)`, and the observation, shape
        `(data_dim,)`, both as float32 NumPy arrays.

    Raises:
        TypeError: If `seed` is not an integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"Observation seed must be an integer, got {seed!r}.")

    prior_key, simulator_key = jax.random.split(jax.random.key(seed))
    theta = prior.sample(seed=prior_key, sample_shape=(1,))
    observation = simulator(simulator_key, theta)[0]

    return np.asarray(theta[0], dtype=np.float32), np.asarray(observation, dtype=np.float32)


def check_theta(theta: jax.Array, theta_dim: int, task_name: str) -> None:
    """Raise `ValueError` unless `theta` has shape `(n, theta_dim)`.

    The check reads only the static shape, so it also works under `jax.jit`.
    """
    if theta.ndim != 2 or theta.shape[1] != theta_dim:
        raise ValueError(
            f"{task_name} simulator: theta must have shape (n, {theta_dim}), got shape "
            f"{tuple(theta.shape)}. Add a leading batch axis for a single parameter vector."
        )
