"""Ready-made priors: a box uniform and independent components of different families."""

from __future__ import annotations

from collections.abc import Sequence

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from tensorflow_probability.substrates import jax as tfp

__all__ = ["IndependentPrior", "box_uniform", "scalar_support"]

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


def scalar_support(distribution) -> tuple[float, float]:
    """Return the support `(low, high)` of a scalar distrax or TFP distribution.

    Raises:
        NotImplementedError: For a family whose support is not known to ssnl.
    """
    if isinstance(distribution, distrax.Distribution) and hasattr(distribution, "_dist"):
        distribution = distribution._dist  # A distrax wrapper around a TFP distribution.
    name = type(distribution).__name__
    if name == "Uniform":
        return float(distribution.low), float(distribution.high)
    if name in _REAL_LINE:
        return -np.inf, np.inf
    if name in _POSITIVE:
        return 0.0, np.inf
    if name in _UNIT_INTERVAL:
        return 0.0, 1.0
    raise NotImplementedError(
        f"ssnl does not know the support of a {name} prior component. Known families: "
        f"Uniform, {', '.join(_REAL_LINE + _POSITIVE + _UNIT_INTERVAL)}."
    )


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
