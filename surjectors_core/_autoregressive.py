"""Autoregressive application of an elementwise transform, shared by the bijection and funnel."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from surjectors_core.transforms import ElementwiseTransform


def autoregressive_inverse(
    conditioner: hk.Module,
    transform: ElementwiseTransform,
    y: jax.Array,
    context: jax.Array | None,
) -> tuple[jax.Array, jax.Array]:
    """Map data to latent values, `z_d = f(y_d; params_d(y_<d))`, in one pass.

    Args:
        conditioner: Module mapping `(y, context)` to parameters of shape
            `(..., dim, transform.num_params)`, autoregressive in `y`.
        transform: Elementwise transform applied with those parameters.
        y: Data of shape `(..., dim)`.
        context: Context with the same leading shape as `y`, or None.

    Returns:
        `z` of shape `(..., dim)` and `log|det dz/dy|` of shape `(...)`.
    """
    z, log_det = transform.inverse_and_log_det(y, conditioner(y, context))
    return z, jnp.sum(log_det, axis=-1)


def autoregressive_forward(
    conditioner: hk.Module,
    transform: ElementwiseTransform,
    z: jax.Array,
    context: jax.Array | None,
) -> tuple[jax.Array, jax.Array]:
    """Map latent values to data by solving the triangular system of the inverse.

    Pass i fixes the i-th dimension in the autoregressive order, whatever the order is, so
    `dim` passes give the exact solution. The parameters of the last pass are computed from
    inputs that are already exact in every dimension they depend on, so its log-det is exact
    too.

    Args:
        conditioner: The same conditioner as in `autoregressive_inverse`.
        transform: The same elementwise transform.
        z: Latent values of shape `(..., dim)`.
        context: Context with the same leading shape as `z`, or None.

    Returns:
        `y` of shape `(..., dim)` and `log|det dy/dz|` of shape `(...)`.
    """

    def solve_pass(_, carry):
        y, _ = carry
        y, log_det = transform.forward_and_log_det(z, conditioner(y, context))
        return y, jnp.sum(log_det, axis=-1)

    # The first pass runs outside the loop so that the carry has the dtypes the conditioner
    # produces, which hk.fori_loop requires to stay fixed.
    carry = solve_pass(0, (jnp.zeros_like(z), None))
    dim = z.shape[-1]
    if dim > 1:
        carry = hk.fori_loop(1, dim, solve_pass, carry)
    return carry
