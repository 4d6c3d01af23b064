"""Ready-made priors: a box uniform and independent components of different families."""

from __future__ import annotations

from collections.abc import Sequence

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from tensorflow_probability.substrates import jax as tfp

__all__ = ["IndependentPrior", "box_uniform", "family_support", "scalar_support"]

tfd = tfp.distributions

# Supports of scalar families, by class name so that distrax and TensorFlow Probability (JAX
# substrate) versions of a family are both recognised.
_REAL_LINE = ("Normal", "Laplace", "Logistic", "Cauchy", "StudentT", "Gumbel")
_POSITIVE = (
    "LogNormal",
    "Gamma",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "Exponential",
    "InverseGamma",
    "Chi2",
    "Weibull",
)
_UNIT_INTERVAL = ("Beta", "Kumaraswamy")


def box_uniform(low, high) -> distrax.Independent:
    """Return independent uniform priors on `[low[i], high[i]]`, event shape `(theta_dim,)`.

    Raises:
        ValueError: If the bounds differ in shape, are not finite, or `low >= high` anywhere.
    """
    low = np.atleast_1d(np.asarray(low, dtype=np.float32))
    high = np.atleast_1d(np.asarray(high, dtype=np.float32))
    if low.shape != high.shape or low.ndim != 1:
        raise ValueError(
            f"low and high must be vectors of the same length, got shapes {low.shape} and "
            f"{high.shape}."
        )
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError("box_uniform needs finite bounds; use IndependentPrior for others.")
    if np.any(low >= high):
        bad = np.flatnonzero(low >= high).tolist()
        raise ValueError(f"low must be below high in every coordinate; not so at {bad}.")
    return distrax.Independent(distrax.Uniform(low=jnp.asarray(low), high=jnp.asarray(high)), 1)


def _family_names(distribution) -> set[str]:
    # distrax wraps TensorFlow Probability distributions in a subclass of the TFP class, so the
    # family shows up in the method resolution order of both kinds.
    return {cls.__name__ for cls in type(distribution).__mro__}


def family_support(distribution) -> tuple[np.ndarray, np.ndarray]:
    """Return the support `(low, high)` of a distrax or TFP distribution of scalars.

    The bounds have the distribution's batch shape and are infinite where unbounded.

    Raises:
        NotImplementedError: For a family whose support is not known to ssnl.
    """
    names = _family_names(distribution)
    batch_shape = tuple(distribution.batch_shape)
    if "Uniform" in names:
        low, high = np.asarray(distribution.low), np.asarray(distribution.high)
    elif names & set(_REAL_LINE):
        low, high = -np.inf, np.inf
    elif names & set(_POSITIVE):
        low, high = 0.0, np.inf
    elif names & set(_UNIT_INTERVAL):
        low, high = 0.0, 1.0
    else:
        raise NotImplementedError(
            f"ssnl does not know the support of a {type(distribution).__name__} prior. Known "
            f"families: Uniform, {', '.join(_REAL_LINE + _POSITIVE + _UNIT_INTERVAL)}, and "
            "multivariate normals."
        )
    low = np.broadcast_to(np.asarray(low, np.float32), batch_shape).copy()
    high = np.broadcast_to(np.asarray(high, np.float32), batch_shape).copy()
    return low, high


def scalar_support(distribution) -> tuple[float, float]:
    """Return the support `(low, high)` of a scalar distrax or TFP distribution.

    Raises:
        NotImplementedError: For a family whose support is not known to ssnl.
    """
    low, high = family_support(distribution)
    return float(low), float(high)


class IndependentPrior(distrax.Distribution):
    """Independent scalar priors of any known family, one per parameter.

    `log_prob(theta) = sum_i log p_i(theta_i)`. Components are scalar distrax or TensorFlow
    Probability (JAX substrate) distributions, for example
    `IndependentPrior([distrax.Uniform(0.0, 1.0), tfd.LogNormal(0.0, 1.0), tfd.HalfCauchy(0.0,
    1.0)])`. ssnl samples the posterior in an unconstrained space through each component's
    support (`support()`), so no draw leaves it.
    """

    def __init__(self, components: Sequence):
        components = list(components)
        if not components:
            raise ValueError("IndependentPrior needs at least one component.")
        for index, component in enumerate(components):
            shape = tuple(component.event_shape) + tuple(component.batch_shape)
            if shape != ():
                raise ValueError(
                    f"Component {index} ({type(component).__name__}) must be scalar, got event "
                    f"and batch shape {shape}. Pass one scalar distribution per parameter."
                )
            scalar_support(component)
        self._components = components

    @property
    def components(self) -> list:
        """The scalar component distributions, in parameter order."""
        return list(self._components)

    @property
    def event_shape(self) -> tuple[int]:
        return (len(self._components),)

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """Return per-parameter bounds `(low, high)`, infinite where unbounded."""
        bounds = np.array([scalar_support(c) for c in self._components], dtype=np.float32)
        return bounds[:, 0], bounds[:, 1]

    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        keys = jax.random.split(key, len(self._components))
        columns = [
            jnp.asarray(component.sample(seed=component_key, sample_shape=(n,)), jnp.float32)
            for component, component_key in zip(self._components, keys, strict=True)
        ]
        return jnp.stack(columns, axis=-1)

    def log_prob(self, value: jax.Array) -> jax.Array:
        value = jnp.asarray(value)
        terms = [
            component.log_prob(value[..., index])
            for index, component in enumerate(self._components)
        ]
        return sum(terms[1:], terms[0])
