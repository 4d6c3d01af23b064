"""Conditional densities over the coordinates that a funnel drops."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import haiku as hk
import jax
import jax.numpy as jnp

from surjectors_core._affine import bounded_scale
from surjectors_core._validation import (
    check_context_batch,
    context_or_none,
    validate_hidden_sizes,
    validate_min_scale,
    validate_positive_integer,
)

__all__ = ["Decoder", "GaussianDecoder"]

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


class Decoder(Protocol):
    """Interface of a funnel decoder, a conditional density p(y_minus | z, x).

    `z` has shape `(..., num_kept)`, `y_minus` shape `(..., data_dim - num_kept)` and `x`, when
    given, shape `(..., context_dim)`, all with the same leading shape.
    """

    def log_prob(self, y_minus: jax.Array, z: jax.Array, x: jax.Array | None = None) -> jax.Array:
        """Return log p(y_minus | z, x) of shape `(...)`."""
        ...

    def sample(self, z: jax.Array, x: jax.Array | None = None) -> jax.Array:
        """Draw y_minus ~ p(. | z, x) with `hk.next_rng_key()`."""
        ...


class GaussianDecoder(hk.Module):
    """Diagonal Gaussian p(y_minus | z, x) whose mean and scale come from an MLP on (z, x).

    The scale is `min_scale + softplus(raw)`, shifted so that the freshly initialised decoder,
    whose last layer is zero, is a standard normal.
    """

    def __init__(
        self,
        output_dim: int,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        min_scale: float = 1e-3,
        name: str | None = None,
    ):
        """Create the decoder.

        Args:
            output_dim: Number of dropped coordinates, `data_dim - num_kept`.
            hidden_sizes: Hidden layer widths of the MLP.
            activation: Nonlinearity after each hidden layer.
            min_scale: Lower bound of the standard deviation, in (0, 1).
            name: Haiku module name.
        """
        super().__init__(name=name)
        self.output_dim = validate_positive_integer(output_dim, "output_dim")
        self._activation = activation
        self._min_scale = validate_min_scale(min_scale)
        self._hidden_layers = [
            hk.Linear(size, name=f"hidden_{index}")
            for index, size in enumerate(validate_hidden_sizes(hidden_sizes))
        ]
        self._output_layer = hk.Linear(2 * self.output_dim, w_init=jnp.zeros, name="output")

    def _mean_and_scale(self, z: jax.Array, x: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        z = jnp.asarray(z)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(z, x, "GaussianDecoder")
        hidden = z if x is None else jnp.concatenate([z, x.astype(z.dtype)], axis=-1)
        for layer in self._hidden_layers:
            hidden = self._activation(layer(hidden))
        outputs = self._output_layer(hidden)
        mean, raw_scale = jnp.split(outputs, 2, axis=-1)
        return mean, bounded_scale(raw_scale, self._min_scale)

    def log_prob(self, y_minus: jax.Array, z: jax.Array, x: jax.Array | None = None) -> jax.Array:
        """Compute log p(y_minus | z, x).

        Args:
            y_minus: Dropped coordinates of shape `(..., output_dim)`.
            z: Funnel output of shape `(..., num_kept)`.
            x: Optional context of shape `(..., context_dim)`.

        Returns:
            Log density of shape `(...)`.
        """
        y_minus = jnp.asarray(y_minus)
        if y_minus.shape[-1] != self.output_dim:
            raise ValueError(
                f"GaussianDecoder with output_dim={self.output_dim} got y_minus of shape "
                f"{tuple(y_minus.shape)}."
            )
        mean, scale = self._mean_and_scale(z, x)
        standardized = (y_minus - mean) / scale
        log_density = -0.5 * jnp.square(standardized) - jnp.log(scale) - _HALF_LOG_TWO_PI
        return jnp.sum(log_density, axis=-1)

    def sample(self, z: jax.Array, x: jax.Array | None = None) -> jax.Array:
        """Draw y_minus of shape `(..., output_dim)` from p(. | z, x) with `hk.next_rng_key()`."""
        mean, scale = self._mean_and_scale(z, x)
        noise = jax.random.normal(hk.next_rng_key(), mean.shape, mean.dtype)
        return mean + scale * noise
