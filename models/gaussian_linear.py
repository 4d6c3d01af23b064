"""Gaussian linear benchmark task, as defined in sbibm.

The definition follows `sbibm/tasks/gaussian_linear/task.py` in github.com/sbi-benchmark/sbibm
with its default arguments. Parameters theta of dimension 10 have the prior N(0, 0.1 I), and
one simulation is y ~ N(theta, 0.1 I). Both 0.1 values are covariances, not standard
deviations, since sbibm passes them as the precision matrix inv(0.1 I). The posterior is
Gaussian in closed form, so the task ships an exact reference sampler.

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
from ssnl.task import Task

__all__ = [
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "NAME",
    "NOISE_VARIANCE",
    "PRIOR_VARIANCE",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "reference_posterior",
    "simulate",
    "true_parameters",
]

NAME = "gaussian_linear"
THETA_DIM = 10
DATA_DIM = 10
PRIOR_VARIANCE = 0.1
NOISE_VARIANCE = 0.1

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("gaussian_linear")` draws its observation."""


def make_prior() -> distrax.Distribution:
    """Build the prior N(0, 0.1 I) over theta, event shape `(10,)`."""
    return distrax.MultivariateNormalDiag(
        loc=jnp.zeros(THETA_DIM, dtype=jnp.float32),
        scale_diag=jnp.full(THETA_DIM, np.sqrt(PRIOR_VARIANCE), dtype=jnp.float32),
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


def reference_posterior(observation: np.ndarray | jax.Array) -> distrax.Distribution:
    """Build the exact posterior for one observation.

    For the prior N(mu_0, Sigma_0) and the likelihood y ~ N(theta, Sigma), the posterior is
    N(mu_n, Sigma_n) with

        Sigma_n = (Sigma_0^{-1} + Sigma^{-1})^{-1},
        mu_n = Sigma_n (Sigma_0^{-1} mu_0 + Sigma^{-1} y).

    Here mu_0 = 0 and Sigma_0 = Sigma = 0.1 I, so Sigma_n = 0.05 I and mu_n = 0.5 y.

    Args:
        observation: Observed data, shape `(10,)`.

    Returns:
        A distrax distribution with event shape `(10,)`.

    Raises:
        ValueError: If `observation` does not have shape `(10,)`.
    """
    observation = jnp.asarray(observation, dtype=jnp.float32)
    if observation.shape != (DATA_DIM,):
        raise ValueError(
            f"{NAME} reference posterior: observation must have shape ({DATA_DIM},), got "
            f"shape {tuple(observation.shape)}."
        )

    # The prior and noise covariances are multiples of I, so the formula reduces to scalars.
    prior_precision = 1.0 / PRIOR_VARIANCE
    noise_precision = 1.0 / NOISE_VARIANCE
    posterior_variance = 1.0 / (prior_precision + noise_precision)
    posterior_mean = posterior_variance * noise_precision * observation

    return distrax.MultivariateNormalDiag(
        loc=posterior_mean,
        scale_diag=jnp.full(THETA_DIM, np.sqrt(posterior_variance), dtype=jnp.float32),
    )


def _make_reference_sampler(observation: np.ndarray):
    posterior = reference_posterior(observation)

    def reference_sampler(key: jax.Array, num_samples: int) -> jax.Array:
        """Draw exact posterior samples, shape `(num_samples, 10)`, float32."""
        num_samples = operator.index(num_samples)
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}.")
        return posterior.sample(seed=key, sample_shape=(num_samples,))

    return reference_sampler


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(10,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the Gaussian linear task with an exact reference sampler.

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
