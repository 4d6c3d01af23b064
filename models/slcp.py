"""SLCP (simple likelihood, complex posterior) benchmark task, as defined in sbibm.

Five parameters have independent U(-3, 3) priors. Given theta, let

    m = (theta_0, theta_1),  s1 = theta_2^2,  s2 = theta_3^2,  rho = tanh(theta_4),
    S = [[s1^2, rho s1 s2], [rho s1 s2, s2^2]].

One simulation is 4 independent draws from N(m, S), flattened to 8 values. The likelihood is
a plain Gaussian, but the posterior has up to four modes because the signs of theta_2 and
theta_3 cannot be identified.

The definition was checked against `sbibm/tasks/slcp/task.py` in github.com/sbi-benchmark/sbibm
(the variant without distractors). That file adds 1e-6 to both diagonal entries of S, and so
does `covariance_jitter` here. It samples the draws with shape `(num_simulations, 4, 2)` and
reshapes them row-major to `(num_simulations, 8)`, so the data layout is
`(x1_a, x1_b, x2_a, x2_b, x3_a, x3_b, x4_a, x4_b)`, where `xk_a` and `xk_b` are the two
coordinates of draw k.

The default observation is drawn with JAX's random number generator, so it differs from the
observations published with sbibm. The task has no reference sampler, because an exact
posterior sampler for SLCP needs an expensive rejection or MCMC run.
"""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models._observation import check_theta, draw_observation
from ssnl.task import Task

__all__ = [
    "COVARIANCE_JITTER",
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "NAME",
    "NUM_DRAWS",
    "PRIOR_HIGH",
    "PRIOR_LOW",
    "THETA_DIM",
    "likelihood_parameters",
    "make_prior",
    "make_task",
    "simulate",
    "true_parameters",
]

NAME = "slcp"
THETA_DIM = 5
NUM_DRAWS = 4
DATA_DIM = 2 * NUM_DRAWS
PRIOR_LOW = -3.0
PRIOR_HIGH = 3.0

COVARIANCE_JITTER = 1e-6
"""Value added to both diagonal entries of S, as in sbibm, so S stays positive definite."""

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("slcp")` draws its observation."""


def make_prior() -> distrax.Distribution:
    """Build the prior U(-3, 3)^5 over theta, event shape `(5,)`."""
    return distrax.Independent(
        distrax.Uniform(
            low=jnp.full(THETA_DIM, PRIOR_LOW, dtype=jnp.float32),
            high=jnp.full(THETA_DIM, PRIOR_HIGH, dtype=jnp.float32),
        ),
        reinterpreted_batch_ndims=1,
    )


def _transform_parameters(theta: jax.Array):
    """Split theta into the mean m and the scales s1, s2 and correlation rho."""
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)
    return theta[:, :2], theta[:, 2] ** 2, theta[:, 3] ** 2, jnp.tanh(theta[:, 4])


def likelihood_parameters(theta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Compute the mean m and covariance S of one 2-D draw for each row of `theta`.

    Args:
        theta: Parameters, shape `(num_simulations, 5)`.

    Returns:
        The mean, shape `(num_simulations, 2)`, and the covariance including
        `COVARIANCE_JITTER` on the diagonal, shape `(num_simulations, 2, 2)`, both float32.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 5)`.
    """
    mean, s1, s2, rho = _transform_parameters(theta)
    off_diagonal = rho * s1 * s2
    covariance = jnp.stack(
        [
            jnp.stack([s1**2 + COVARIANCE_JITTER, off_diagonal], axis=-1),
            jnp.stack([off_diagonal, s2**2 + COVARIANCE_JITTER], axis=-1),
        ],
        axis=-2,
    )
    return mean, covariance


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate 4 independent draws from N(m, S) for each row of `theta`.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(num_simulations, 5)`.

    Returns:
        Float32 data, shape `(num_simulations, 8)`, laid out as
        `(x1_a, x1_b, x2_a, x2_b, x3_a, x3_b, x4_a, x4_b)`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 5)`.
    """
    mean, s1, s2, rho = _transform_parameters(theta)

    # Cholesky factor L of S in closed form, S = L L^T. The lower-right entry is written as
    # s2^2 (1 - rho^2 s1^2 / (s1^2 + jitter)) + jitter instead of S_11 - L_10^2, which avoids
    # cancellation in float32 when |rho| is close to 1. The clamp at 0 only guards rounding.
    variance_a = s1**2 + COVARIANCE_JITTER
    l00 = jnp.sqrt(variance_a)
    l10 = rho * s1 * s2 / l00
    shrinkage = jnp.maximum(1.0 - rho**2 * s1**2 / variance_a, 0.0)
    l11 = jnp.sqrt(s2**2 * shrinkage + COVARIANCE_JITTER)

    num_simulations = mean.shape[0]
    z = jax.random.normal(key, (num_simulations, NUM_DRAWS, 2), dtype=jnp.float32)
    x_a = mean[:, None, 0] + l00[:, None] * z[..., 0]
    x_b = mean[:, None, 1] + l10[:, None] * z[..., 0] + l11[:, None] * z[..., 1]

    draws = jnp.stack([x_a, x_b], axis=-1)
    return draws.reshape(num_simulations, DATA_DIM)


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(5,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the SLCP task, without a reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 5 and `data_dim` 8.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
