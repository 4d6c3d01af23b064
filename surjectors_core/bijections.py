"""Bijective layers: a masked autoregressive affine transform and a fixed permutation.

Every layer maps data to latent values in `inverse_and_log_det(y, x)`, returning
`(z, log|det dz/dy|)`, and latent values to data in `forward_and_log_det(z, x)`, returning
`(y, log|det dy/dz|)`. Inputs have shape `(..., dim)` and log-dets shape `(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from surjectors_core._affine import affine_autoregressive_forward, affine_autoregressive_inverse
from surjectors_core._validation import (
    check_context_batch,
    context_or_none,
    validate_min_scale,
    validate_positive_integer,
)
from surjectors_core.made import MADE

__all__ = ["MaskedAutoregressive", "Permutation", "reverse_permutation"]


class MaskedAutoregressive(hk.Module):
    """Conditional affine masked autoregressive flow layer.

    The inverse is `z_d = (y_d - shift_d) / scale_d`, where `shift_d` and `scale_d` come from a
    MADE on `y_<d` (in the chosen order) and the context. The scale is
    `min_scale + softplus(raw)`, shifted so that the layer is the identity at initialisation.
    The forward direction solves the triangular system in `data_dim` passes of a compiled loop.
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        order: Sequence[int] | None = None,
        min_scale: float = 1e-3,
        name: str | None = None,
    ):
        """Create the layer.

        Args:
            hidden_sizes: Hidden layer widths of the MADE conditioner.
            activation: Nonlinearity of the MADE conditioner.
            order: Autoregressive order as a permutation of range(data_dim), or None for the
                identity order.
            min_scale: Lower bound of the scale, in (0, 1).
            name: Haiku module name.
        """
        super().__init__(name=name)
        self._min_scale = validate_min_scale(min_scale)
        self._conditioner = MADE(
            num_params=2,
            hidden_sizes=hidden_sizes,
            activation=activation,
            order=order,
            name="made",
        )

    def inverse_and_log_det(
        self, y: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map data `y` of shape `(..., data_dim)` to `(z, log|det dz/dy|)`.

        `x` is an optional context of shape `(..., context_dim)` with the leading shape of `y`.
        """
        y = jnp.asarray(y)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(y, x, "MaskedAutoregressive")
        return affine_autoregressive_inverse(self._conditioner, y, x, self._min_scale)

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map latent values `z` of shape `(..., data_dim)` to `(y, log|det dy/dz|)`."""
        z = jnp.asarray(z)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(z, x, "MaskedAutoregressive")
        return affine_autoregressive_forward(self._conditioner, z, x, self._min_scale)


class Permutation(hk.Module):
    """Fixed permutation of the last axis, `z = y[..., permutation]`, that ignores the context."""

    def __init__(self, permutation: Sequence[int], name: str | None = None):
        """Create the layer.

        Args:
            permutation: A permutation of range(dim), as a sequence or integer array.
            name: Haiku module name.
        """
        super().__init__(name=name)
        array = np.asarray(permutation)
        if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
            raise ValueError(
                f"permutation must be a non-empty 1-D sequence of integers, got {permutation!r}."
            )
        if not np.array_equal(np.sort(array), np.arange(array.size)):
            raise ValueError(
                f"permutation must contain each of 0..{array.size - 1} exactly once, got "
                f"{array.tolist()}."
            )
        self.permutation = array.astype(np.int64)
        self._inverse_permutation = np.argsort(self.permutation)

    def _check_dim(self, values: jax.Array) -> None:
        if values.shape[-1] != self.permutation.size:
            raise ValueError(
                f"Permutation of size {self.permutation.size} got input with last dimension "
                f"{values.shape[-1]} (shape {tuple(values.shape)})."
            )

    def inverse_and_log_det(
        self, y: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Return `(y[..., permutation], 0)`. `x` is accepted only to match the layer interface."""
        del x
        y = jnp.asarray(y)
        self._check_dim(y)
        return y[..., self.permutation], jnp.zeros(y.shape[:-1], y.dtype)

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Undo the permutation and return `(y, 0)`."""
        del x
        z = jnp.asarray(z)
        self._check_dim(z)
        return z[..., self._inverse_permutation], jnp.zeros(z.shape[:-1], z.dtype)


def reverse_permutation(dim: int, name: str | None = None) -> Permutation:
    """Create a Permutation that reverses the order of `dim` coordinates."""
    dim = validate_positive_integer(dim, "dim")
    return Permutation(np.arange(dim)[::-1], name=name)
