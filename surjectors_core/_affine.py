"""Affine autoregressive transform shared by the bijective and the funnel layers."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np


def bounded_scale(raw: jax.Array, min_scale: float) -> jax.Array:
    """Map an unconstrained network output to a scale of at least `min_scale`.

    The softplus input is shifted so that `raw == 0` gives scale exactly 1. Networks whose last
    layer starts at zero therefore start as the identity (or, for a decoder, unit variance).
    Unlike `exp`, softplus grows linearly, so a large raw value cannot overflow the scale.
    """
    offset = float(np.log(np.expm1(1.0 - min_scale)))
    return min_scale + jax.nn.softplus(raw + offset)


def _shift_and_scale(
    conditioner: hk.Module, y: jax.Array, context: jax.Array | None, min_scale: float
) -> tuple[jax.Array, jax.Array]:
    params = conditioner(y, context)
    return params[..., 0], bounded_scale(params[..., 1], min_scale)


def affine_autoregressive_inverse(
    conditioner: hk.Module, y: jax.Array, context: jax.Array | None, min_scale: float
) -> tuple[jax.Array, jax.Array]:
    """Map data to latent values, `z_d = (y_d - shift_d(y_<d)) / scale_d(y_<d)`.

    Args:
        conditioner: Module mapping `(y, context)` to parameters of shape `(..., dim, 2)`,
            autoregressive in `y`.
        y: Data of shape `(..., dim)`.
        context: Context with the same leading shape as `y`, or None.
        min_scale: Lower bound of the scale.

    Returns:
        `z` of shape `(..., dim)` and `log|det dz/dy|` of shape `(...)`.
    """
    shift, scale = _shift_and_scale(conditioner, y, context, min_scale)
    z = (y - shift) / scale
    return z, -jnp.sum(jnp.log(scale), axis=-1)


def affine_autoregressive_forward(
    conditioner: hk.Module, z: jax.Array, context: jax.Array | None, min_scale: float
) -> tuple[jax.Array, jax.Array]:
    """Map latent values to data by solving the triangular system of the inverse.

    Pass i fixes the i-th dimension in the autoregressive order, whatever the order is, so
    `dim` passes give the exact solution. The scale of the last pass is computed from inputs
    that are already exact in every dimension it depends on, so its log-det is exact too.

    Args:
        conditioner: The same conditioner as in `affine_autoregressive_inverse`.
        z: Latent values of shape `(..., dim)`.
        context: Context with the same leading shape as `z`, or None.
        min_scale: Lower bound of the scale.

    Returns:
        `y` of shape `(..., dim)` and `log|det dy/dz|` of shape `(...)`.
    """

    def solve_pass(_, carry):
        y, _ = carry
        shift, scale = _shift_and_scale(conditioner, y, context, min_scale)
        return z * scale + shift, jnp.sum(jnp.log(scale), axis=-1)

    # The first pass runs outside the loop so that the carry has the dtypes the conditioner
    # produces, which hk.fori_loop requires to stay fixed.
    carry = solve_pass(0, (jnp.zeros_like(z), None))
    dim = z.shape[-1]
    if dim > 1:
        carry = hk.fori_loop(1, dim, solve_pass, carry)
    return carry
