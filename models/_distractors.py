"""Shared steps of the SLCP tasks with distractors: noise draws and the data layout."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from models import slcp


def sample_student_t_factor(key: jax.Array, num_samples: int, df: float) -> jax.Array:
    """Draw sqrt(df / w) with w ~ chi-squared(df), shape `(num_samples,)`, float32.

    Multiplying a N(0, S) draw by this factor gives a multivariate Student-t draw with `df`
    degrees of freedom and scale matrix S. Since w = 2 g with g ~ Gamma(df / 2), the factor is
    exp((log(df / 2) - log g) / 2). Drawing log g directly keeps draws of g that underflow
    float32 finite.
    """
    log_gamma = jax.random.loggamma(key, df / 2.0, shape=(num_samples,), dtype=jnp.float32)
    return jnp.exp(0.5 * (np.log(df / 2.0) - log_gamma))


def informative_positions(permutation: np.ndarray) -> np.ndarray:
    """Return the output positions of the SLCP values, in SLCP's order, shape `(8,)`.

    The simulators output `concatenate([slcp_data, noise])[permutation]`, so SLCP value i
    is at the position j with permutation[j] == i.
    """
    return np.argsort(permutation)[: slcp.DATA_DIM]


def simulate_with_distractors(
    key: jax.Array,
    theta: jax.Array,
    sample_noise: Callable[[jax.Array, int], jax.Array],
    permutation: np.ndarray,
) -> jax.Array:
    """Simulate SLCP data, append noise that ignores theta, and reorder the columns.

    `jax.random.split(key)` gives the SLCP key and the noise key, so with one key the noise
    columns are the same for every theta.
    """
    data_key, noise_key = jax.random.split(key)
    data = slcp.simulate(data_key, theta)
    noise = sample_noise(noise_key, data.shape[0])
    return jnp.concatenate([data, noise], axis=1)[:, permutation]
