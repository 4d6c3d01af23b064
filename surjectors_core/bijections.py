"""Bijective layers: masked autoregressive, masked coupling, LU linear and permutations.

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

from surjectors_core._autoregressive import autoregressive_forward, autoregressive_inverse
from surjectors_core._lu import LUMatrix
from surjectors_core._networks import ConditionerMLP
from surjectors_core._validation import (
    check_context_batch,
    context_or_none,
    validate_min_scale,
    validate_positive_integer,
)
from surjectors_core.made import MADE
from surjectors_core.transforms import AffineTransform, ElementwiseTransform

__all__ = [
    "LULinear",
    "MaskedAutoregressive",
    "MaskedCoupling",
    "Permutation",
    "random_permutation",
    "reverse_permutation",
]


def resolve_transform(
    transform: ElementwiseTransform | None, min_scale: float
) -> ElementwiseTransform:
    """Return `transform`, or an AffineTransform with `min_scale` when it is None."""
    min_scale = validate_min_scale(min_scale)
    if transform is None:
        return AffineTransform(min_scale)
    for attribute in ("num_params", "inverse_and_log_det", "forward_and_log_det"):
        if not hasattr(transform, attribute):
            raise TypeError(
                f"transform must be an elementwise transform such as AffineTransform or "
                f"RationalQuadraticSpline, got {transform!r} without `{attribute}`."
            )
    return transform


class MaskedAutoregressive(hk.Module):
    """Conditional masked autoregressive flow layer with an affine or spline transform.

    Inverse (data to latent): `z_d = f(y_d; theta_d)`, where a MADE computes `theta_d` from
    `y_<d` (in the chosen order) and the context, in one pass. Forward: solves the triangular
    system in `data_dim` passes of a compiled loop. Likelihood contribution of the inverse:
    `log|det dz/dy| = sum_d log|f'(y_d; theta_d)|`. With the default AffineTransform,
    `f(y; theta) = (y - shift) / scale` with `scale = min_scale + softplus(raw)`. The layer is
    the identity at initialisation.
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        order: Sequence[int] | None = None,
        min_scale: float = 1e-3,
        name: str | None = None,
        *,
        transform: ElementwiseTransform | None = None,
    ):
        """Create the layer.

        Args:
            hidden_sizes: Hidden layer widths of the MADE conditioner.
            activation: Nonlinearity of the MADE conditioner.
            order: Autoregressive order as a permutation of range(data_dim), or None for the
                identity order.
            min_scale: Lower bound of the scale, in (0, 1). Used only when `transform` is None.
            name: Haiku module name.
            transform: Elementwise transform, for example `RationalQuadraticSpline()`. None
                means `AffineTransform(min_scale)`.
        """
        super().__init__(name=name)
        self.transform = resolve_transform(transform, min_scale)
        self._conditioner = MADE(
            num_params=self.transform.num_params,
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
        return autoregressive_inverse(self._conditioner, self.transform, y, x)

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map latent values `z` of shape `(..., data_dim)` to `(y, log|det dy/dz|)`."""
        z = jnp.asarray(z)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(z, x, "MaskedAutoregressive")
        return autoregressive_forward(self._conditioner, self.transform, z, x)


def _validate_mask(mask) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 1 or array.dtype != np.bool_:
        raise ValueError(f"mask must be a 1-D sequence of booleans, got {mask!r}.")
    if array.all() or not array.any():
        raise ValueError(
            f"mask must contain at least one True (conditioning) and one False (transformed) "
            f"entry, got {array.tolist()}."
        )
    return array


class MaskedCoupling(hk.Module):
    """Conditional coupling layer: masked coordinates condition the transform of the others.

    With `a = y[mask]` (kept as is) and `b = y[~mask]`:
    Inverse (data to latent): `z[mask] = a`, `z[~mask] = f(b; theta)` with
    `theta = MLP(a, x)`. Forward: `y[mask] = z[mask]`, `y[~mask] = f^{-1}(z[~mask]; theta)` with
    the same `theta`, so both directions take one pass. Likelihood contribution of the
    inverse: `sum log|f'(b; theta)|`. The layer is the identity at initialisation.
    """

    def __init__(
        self,
        mask: Sequence[bool],
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        min_scale: float = 1e-3,
        *,
        transform: ElementwiseTransform | None = None,
        name: str | None = None,
    ):
        """Create the layer.

        Args:
            mask: Booleans of length data_dim. True marks the coordinates passed through
                unchanged and fed to the conditioner, False the transformed ones. Both must
                occur.
            hidden_sizes: Hidden layer widths of the conditioner MLP.
            activation: Nonlinearity of the conditioner MLP.
            min_scale: Lower bound of the scale, in (0, 1). Used only when `transform` is None.
            transform: Elementwise transform. None means `AffineTransform(min_scale)`.
            name: Haiku module name.
        """
        super().__init__(name=name)
        self.mask = _validate_mask(mask)
        self.transform = resolve_transform(transform, min_scale)
        self._conditioning = np.flatnonzero(self.mask)
        self._transformed = np.flatnonzero(~self.mask)
        # Concatenating (conditioning, transformed) and indexing with this restores the order.
        self._restore = np.argsort(np.concatenate([self._conditioning, self._transformed]))
        self._conditioner = ConditionerMLP(
            (self._transformed.size, self.transform.num_params),
            hidden_sizes,
            activation,
            name="conditioner",
        )

    def _split(self, values: jax.Array, x: jax.Array | None, direction: str):
        values = jnp.asarray(values)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(values, x, "MaskedCoupling")
        if values.shape[-1] != self.mask.size:
            raise ValueError(
                f"MaskedCoupling with a mask of length {self.mask.size} got {direction} of "
                f"shape {tuple(values.shape)}."
            )
        conditioning = values[..., self._conditioning]
        params = self._conditioner(conditioning, x)
        return conditioning, values[..., self._transformed], params

    def inverse_and_log_det(
        self, y: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map data `y` of shape `(..., data_dim)` to `(z, log|det dz/dy|)`.

        `x` is an optional context of shape `(..., context_dim)` with the leading shape of `y`.
        """
        conditioning, transformed, params = self._split(y, x, "input")
        z_transformed, log_det = self.transform.inverse_and_log_det(transformed, params)
        z = jnp.concatenate([conditioning, z_transformed], axis=-1)[..., self._restore]
        return z, jnp.sum(log_det, axis=-1)

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map latent values `z` of shape `(..., data_dim)` to `(y, log|det dy/dz|)`."""
        conditioning, transformed, params = self._split(z, x, "latent values")
        y_transformed, log_det = self.transform.forward_and_log_det(transformed, params)
        y = jnp.concatenate([conditioning, y_transformed], axis=-1)[..., self._restore]
        return y, jnp.sum(log_det, axis=-1)


class LULinear(hk.Module):
    """Invertible linear layer `y = L U z + b` that ignores the context.

    `L` is lower triangular with a unit diagonal and `U` upper triangular with the diagonal
    `min_scale + softplus(raw)`, so `L U` is invertible. Inverse (data to latent):
    `z = U^{-1} L^{-1} (y - b)` by two triangular solves. Forward: `y = L U z + b`. Likelihood
    contribution of the inverse: `-sum log diag U`. The layer is the identity at
    initialisation.
    """

    def __init__(self, dim: int, min_scale: float = 1e-3, name: str | None = None):
        """Create the layer.

        Args:
            dim: Dimension of the data.
            min_scale: Lower bound of the diagonal of `U`, in (0, 1).
            name: Haiku module name.
        """
        super().__init__(name=name)
        self.dim = validate_positive_integer(dim, "dim")
        self._matrix = LUMatrix(self.dim, validate_min_scale(min_scale), name="matrix")

    def _check_dim(self, values: jax.Array) -> None:
        if values.shape[-1] != self.dim:
            raise ValueError(
                f"LULinear with dim={self.dim} got input of shape {tuple(values.shape)}."
            )

    def _bias(self, dtype) -> jax.Array:
        return hk.get_parameter("bias", (self.dim,), dtype, init=jnp.zeros)

    def inverse_and_log_det(
        self, y: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map `y` of shape `(..., dim)` to `(z, log|det dz/dy|)`. `x` is ignored."""
        del x
        y = jnp.asarray(y)
        self._check_dim(y)
        z, log_det = self._matrix.solve(y - self._bias(y.dtype))
        return z, jnp.full(y.shape[:-1], -log_det, y.dtype)

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map `z` of shape `(..., dim)` to `(y, log|det dy/dz|)`. `x` is ignored."""
        del x
        z = jnp.asarray(z)
        self._check_dim(z)
        y, log_det = self._matrix.matmul(z)
        return y + self._bias(z.dtype), jnp.full(z.shape[:-1], log_det, z.dtype)


class Permutation(hk.Module):
    """Fixed permutation of the last axis that ignores the context.

    Inverse (data to latent): `z = y[..., permutation]`. Forward:
    `y = z[..., argsort(permutation)]`. Likelihood contribution: 0.
    """

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


def random_permutation(dim: int, seed: int, name: str | None = None) -> Permutation:
    """Create a Permutation of `dim` coordinates drawn from NumPy's generator with `seed`.

    The permutation is drawn once, when this function runs, and is not a Haiku parameter.
    """
    dim = validate_positive_integer(dim, "dim")
    return Permutation(np.random.default_rng(seed).permutation(dim), name=name)
