"""Composition of layers and the flow distribution built on it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import haiku as hk
import jax
import jax.numpy as jnp

from surjectors_core._validation import validate_non_negative_integer, validate_positive_integer

__all__ = ["Chain", "Layer", "TransformedDistribution"]

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


class Layer(Protocol):
    """Interface shared by bijections, funnels and chains.

    `inverse_and_log_det(y, x)` maps data to latent values and returns their log-likelihood
    contribution. `forward_and_log_det(z, x)` maps latent values to data and returns minus the
    contribution at the returned data. For a bijection the contribution is `log|det dz/dy|`.
    """

    def inverse_and_log_det(
        self, y: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]: ...

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]: ...


class Chain(hk.Module):
    """Layers applied in order from data to latent values, and in reverse order for sampling."""

    def __init__(self, layers: Sequence[Layer], name: str | None = None):
        """Create the chain.

        Args:
            layers: Layers in the data-to-latent order. Must not be empty.
            name: Haiku module name.
        """
        super().__init__(name=name)
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError("Chain needs at least one layer, got an empty sequence.")

    def inverse_and_log_det(
        self, y: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Apply every layer's inverse in order and sum their log-dets (or contributions)."""
        total = None
        for layer in self.layers:
            y, log_det = layer.inverse_and_log_det(y, x)
            total = log_det if total is None else total + log_det
        return y, total

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Apply every layer's forward in reverse order and sum their forward values."""
        total = None
        for layer in reversed(self.layers):
            z, log_det = layer.forward_and_log_det(z, x)
            total = log_det if total is None else total + log_det
        return z, total


def _standard_normal_log_prob(z: jax.Array) -> jax.Array:
    return jnp.sum(-0.5 * jnp.square(z) - _HALF_LOG_TWO_PI, axis=-1)


class TransformedDistribution(hk.Module):
    """Conditional density p(y | x) given by a flow over a standard normal base on R^latent_dim.

    `log p(y | x) = log N(z; 0, I) + contribution`, where `(z, contribution)` is the flow's
    `inverse_and_log_det(y, x)`. A sample's log density is `log N(z; 0, I)` minus the flow's
    forward value.
    """

    def __init__(
        self,
        flow: Layer,
        latent_dim: int,
        context_dim: int | None = None,
        name: str | None = None,
    ):
        """Create the distribution.

        Args:
            flow: The layer (usually a Chain) mapping data to R^latent_dim.
            latent_dim: Dimension of the standard normal base.
            context_dim: Expected size of the context, checked on every call. 0 means the flow
                is unconditional and the context must be None or have zero width. None skips
                the check.
            name: Haiku module name.
        """
        super().__init__(name=name)
        self.flow = flow
        self.latent_dim = validate_positive_integer(latent_dim, "latent_dim")
        self.context_dim = (
            None
            if context_dim is None
            else validate_non_negative_integer(context_dim, "context_dim")
        )

    def _prepare_context(self, x) -> jax.Array | None:
        if x is None:
            if self.context_dim:
                raise ValueError(
                    f"This flow is conditional on a context of size {self.context_dim}, but "
                    "x is None. Pass x of shape (context_dim,) or (num_samples, context_dim)."
                )
            return None
        x = jnp.asarray(x)
        if x.ndim not in (1, 2):
            raise ValueError(
                f"x must have shape (context_dim,) or (num_samples, context_dim), got shape "
                f"{tuple(x.shape)}."
            )
        if self.context_dim is not None and x.shape[-1] != self.context_dim:
            raise ValueError(
                f"x must have context_dim={self.context_dim} columns, got shape {tuple(x.shape)}."
            )
        return x

    def log_prob(self, y: jax.Array, x: jax.Array | None = None) -> jax.Array:
        """Compute log p(y | x).

        An unbatched argument is broadcast over the batch of the other one, so one observation
        can be scored under many contexts and many observations under one context.

        Args:
            y: Data of shape `(num_samples, data_dim)` or `(data_dim,)`.
            x: Context of shape `(num_samples, context_dim)` or `(context_dim,)`, or None for
                an unconditional flow.

        Returns:
            Log densities of shape `(num_samples,)`, or `()` when neither argument is batched.
        """
        y = jnp.asarray(y)
        x = self._prepare_context(x)
        if y.ndim not in (1, 2):
            raise ValueError(
                f"y must have shape (data_dim,) or (num_samples, data_dim), got shape "
                f"{tuple(y.shape)}."
            )
        unbatched = y.ndim == 1 and (x is None or x.ndim == 1)
        y_batch = y[None] if y.ndim == 1 else y
        if x is None:
            x_batch = None
        else:
            x_batch = x[None] if x.ndim == 1 else x
            num_samples = max(y_batch.shape[0], x_batch.shape[0])
            if {y_batch.shape[0], x_batch.shape[0]} - {1, num_samples}:
                raise ValueError(
                    f"y and x have different batch sizes: y shape {tuple(y.shape)}, x shape "
                    f"{tuple(x.shape)}."
                )
            y_batch = jnp.broadcast_to(y_batch, (num_samples, y_batch.shape[1]))
            x_batch = jnp.broadcast_to(x_batch, (num_samples, x_batch.shape[1]))

        z, contribution = self.flow.inverse_and_log_det(y_batch, x_batch)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"The flow maps data to dimension {z.shape[-1]}, but latent_dim is "
                f"{self.latent_dim}."
            )
        log_prob = _standard_normal_log_prob(z) + contribution
        return log_prob[0] if unbatched else log_prob

    def sample_and_log_prob(
        self, x: jax.Array | None = None, num_samples: int | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Draw samples and their log densities with `hk.next_rng_key()`.

        Args:
            x: Context of shape `(n, context_dim)` for one sample per row, of shape
                `(context_dim,)` for `num_samples` samples under one context, or None for an
                unconditional flow.
            num_samples: Number of samples when `x` is None or unbatched. With a batched `x`
                it may be omitted and otherwise must equal `n`. It sets an array shape, so it
                must be a static Python int under `jax.jit`.

        Returns:
            Samples of shape `(num_samples, data_dim)` and their log densities of shape
            `(num_samples,)`.
        """
        x = self._prepare_context(x)
        if x is not None and x.ndim == 2:
            if num_samples is not None and num_samples != x.shape[0]:
                raise ValueError(
                    f"num_samples={num_samples} does not match the {x.shape[0]} context rows. "
                    "With a batched x, one sample is drawn per row, so omit num_samples."
                )
            num_samples = x.shape[0]
        else:
            if num_samples is None:
                raise ValueError(
                    "num_samples is required when x is None or has shape (context_dim,)."
                )
            num_samples = validate_positive_integer(num_samples, "num_samples")
            if x is not None:
                x = jnp.broadcast_to(x, (num_samples, x.shape[0]))

        dtype = jnp.float32 if x is None else jnp.result_type(x.dtype, jnp.float32)
        z = jax.random.normal(hk.next_rng_key(), (num_samples, self.latent_dim), dtype)
        y, forward_value = self.flow.forward_and_log_det(z, x)
        return y, _standard_normal_log_prob(z) - forward_value

    def sample(self, x: jax.Array | None = None, num_samples: int | None = None) -> jax.Array:
        """Draw samples of shape `(num_samples, data_dim)` as `sample_and_log_prob` does."""
        samples, _ = self.sample_and_log_prob(x, num_samples)
        return samples
