"""Elementwise monotonic transforms whose parameters come from a conditioner network.

A transform maps each coordinate on its own, with parameters of shape `(..., dim, num_params)`
that a MADE or a coupling MLP computes. `inverse_and_log_det(y, params)` maps data to latent
values and returns the elementwise `log|dz_d/dy_d|`, `forward_and_log_det(z, params)` maps
latent values to data and returns `log|dy_d/dz_d|`. Both log-derivatives have the shape of the
input, and the layers sum them over the last axis.

A conditioner whose last layer starts at zero outputs all-zero parameters, and both transforms
are the identity for all-zero parameters.
"""

from __future__ import annotations

from typing import Protocol

import jax
import jax.numpy as jnp

from surjectors_core._affine import bounded_scale
from surjectors_core._validation import validate_min_scale, validate_positive_integer

__all__ = ["AffineTransform", "ElementwiseTransform", "RationalQuadraticSpline"]


class ElementwiseTransform(Protocol):
    """Interface of an elementwise transform with `num_params` parameters per coordinate."""

    num_params: int

    def inverse_and_log_det(
        self, y: jax.Array, params: jax.Array
    ) -> tuple[jax.Array, jax.Array]: ...

    def forward_and_log_det(
        self, z: jax.Array, params: jax.Array
    ) -> tuple[jax.Array, jax.Array]: ...


class AffineTransform:
    """Affine map with a bounded scale, two parameters per coordinate.

    Inverse (data to latent): `z = (y - shift) / scale`. Forward: `y = z * scale + shift`.
    Likelihood contribution of the inverse: `-log(scale)` per coordinate. The parameters are
    `(shift, raw)` with `scale = min_scale + softplus(raw + c)`, where `c` makes `raw = 0` give
    scale 1.
    """

    num_params = 2

    def __init__(self, min_scale: float = 1e-3):
        """Create the transform.

        Args:
            min_scale: Lower bound of the scale, in (0, 1).
        """
        self.min_scale = validate_min_scale(min_scale)

    def _shift_and_scale(self, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        return params[..., 0], bounded_scale(params[..., 1], self.min_scale)

    def inverse_and_log_det(self, y: jax.Array, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Map `y` of shape `(..., dim)` to `(z, log|dz/dy|)`, both of shape `(..., dim)`."""
        shift, scale = self._shift_and_scale(params)
        return (y - shift) / scale, -jnp.log(scale)

    def forward_and_log_det(self, z: jax.Array, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Map `z` of shape `(..., dim)` to `(y, log|dy/dz|)`, both of shape `(..., dim)`."""
        shift, scale = self._shift_and_scale(params)
        return z * scale + shift, jnp.log(scale)


class RationalQuadraticSpline:
    """Monotonic rational-quadratic spline on `[-bound, bound]` with linear tails outside.

    The interval is cut into `num_bins` bins. On each bin the map is a ratio of two quadratics
    fixed by the knot positions and the derivatives at the knots (Durkan et al., "Neural Spline
    Flows", 2019). The derivative at both ends of the interval is 1, so the identity tails join
    the spline with a continuous derivative.

    Inverse (data to latent): `z = g(y)` with the spline `g` in closed form. Forward:
    `y = g^{-1}(z)`, the root of a quadratic in each bin. Likelihood contribution of the
    inverse: `log g'(y)` per coordinate, 0 in the tails.

    The parameters per coordinate are `num_bins` bin widths, `num_bins` bin heights (both
    through a softmax) and `num_bins - 1` interior knot derivatives (through the bounded
    softplus of the affine scale), `3 * num_bins - 1` in all. All-zero parameters give equal
    bins and unit derivatives, which is the identity.
    """

    def __init__(
        self,
        num_bins: int = 8,
        bound: float = 4.0,
        min_bin_size: float = 1e-3,
        min_derivative: float = 1e-3,
    ):
        """Create the transform.

        Args:
            num_bins: Number of bins K, at least 1.
            bound: Half-width B of the interval `[-B, B]` the spline covers, positive.
            min_bin_size: Lower bound of each bin's width and height as a fraction of `2 * B`,
                in (0, 1 / num_bins).
            min_derivative: Lower bound of the interior knot derivatives, in (0, 1).
        """
        self.num_bins = validate_positive_integer(num_bins, "num_bins")
        self.bound = float(bound)
        if not self.bound > 0.0:
            raise ValueError(f"bound must be positive, got {bound!r}.")
        self.min_bin_size = float(min_bin_size)
        if not 0.0 < self.min_bin_size * self.num_bins < 1.0:
            raise ValueError(
                f"min_bin_size must satisfy 0 < min_bin_size < 1 / num_bins = "
                f"{1.0 / self.num_bins:g}, got {min_bin_size!r}."
            )
        self.min_derivative = validate_min_scale(min_derivative)
        self.num_params = 3 * self.num_bins - 1

    def _knots(self, params: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Return knot x positions, knot y positions and knot derivatives, each `(..., K + 1)`."""
        num_bins = self.num_bins
        raw_widths = params[..., :num_bins]
        raw_heights = params[..., num_bins : 2 * num_bins]
        raw_derivatives = params[..., 2 * num_bins :]

        def knot_positions(raw):
            fractions = jax.nn.softmax(raw, axis=-1)
            fractions = self.min_bin_size + (1.0 - self.min_bin_size * num_bins) * fractions
            positions = jnp.cumsum(fractions, axis=-1)
            # Pin both ends exactly, because the cumulative sum of rounded fractions may miss 1.
            zeros = jnp.zeros_like(positions[..., :1])
            positions = jnp.concatenate([zeros, positions[..., :-1], zeros + 1.0], axis=-1)
            return self.bound * (2.0 * positions - 1.0)

        ones = jnp.ones_like(raw_widths[..., :1])
        interior = bounded_scale(raw_derivatives, self.min_derivative)
        derivatives = jnp.concatenate([ones, interior, ones], axis=-1)
        return knot_positions(raw_widths), knot_positions(raw_heights), derivatives

    def _check_params(self, values: jax.Array, params: jax.Array) -> None:
        if params.shape != (*values.shape, self.num_params):
            raise ValueError(
                f"RationalQuadraticSpline with num_bins={self.num_bins} needs parameters of "
                f"shape {(*values.shape, self.num_params)} for inputs of shape "
                f"{tuple(values.shape)}, got {tuple(params.shape)}."
            )

    @staticmethod
    def _bin_values(
        x_knots: jax.Array, y_knots: jax.Array, derivatives: jax.Array, index: jax.Array
    ) -> tuple[jax.Array, ...]:
        """Return the left and right x knot, y knot and derivative of the bin `index`.

        One gather on the stacked knots keeps the compiled program small.
        """
        stacked = jnp.stack([x_knots, y_knots, derivatives], axis=-1)
        both_ends = jnp.stack([index, index + 1], axis=-1)[..., None]
        values = jnp.take_along_axis(stacked, both_ends, axis=-2)
        left, right = values[..., 0, :], values[..., 1, :]
        return (
            left[..., 0],
            right[..., 0],
            left[..., 1],
            right[..., 1],
            left[..., 2],
            right[..., 2],
        )

    def _bin_index(self, knots: jax.Array, values: jax.Array) -> jax.Array:
        # Count the interior knots at or below each value, which gives its bin in 0..K-1.
        return jnp.sum(values[..., None] >= knots[..., 1:-1], axis=-1)

    def inverse_and_log_det(self, y: jax.Array, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Map `y` of shape `(..., dim)` to `(g(y), log g'(y))`, both of shape `(..., dim)`.

        `params` has shape `(..., dim, 3 * num_bins - 1)`.
        """
        self._check_params(y, params)
        inside = jnp.abs(y) < self.bound
        # The spline branch receives a clipped input, so it stays finite for far-out inputs
        # whose result the tail branch replaces. Otherwise a NaN there would leak into gradients.
        clipped = jnp.clip(y, -self.bound, self.bound)
        x_knots, y_knots, derivatives = self._knots(params)
        index = self._bin_index(x_knots, clipped)
        x_left, x_right, y_left, y_right, d_left, d_right = self._bin_values(
            x_knots, y_knots, derivatives, index
        )

        width = x_right - x_left
        height = y_right - y_left
        slope = height / width
        xi = jnp.clip((clipped - x_left) / width, 0.0, 1.0)
        xi_one_minus_xi = xi * (1.0 - xi)
        denominator = slope + (d_left + d_right - 2.0 * slope) * xi_one_minus_xi
        numerator = height * (slope * xi**2 + d_left * xi_one_minus_xi)
        spline_value = y_left + numerator / denominator
        derivative_numerator = slope**2 * (
            d_right * xi**2 + 2.0 * slope * xi_one_minus_xi + d_left * (1.0 - xi) ** 2
        )
        spline_log_det = jnp.log(derivative_numerator) - 2.0 * jnp.log(denominator)

        z = jnp.where(inside, spline_value, y)
        log_det = jnp.where(inside, spline_log_det, jnp.zeros_like(y))
        return z, log_det

    def forward_and_log_det(self, z: jax.Array, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Map `z` of shape `(..., dim)` to `(g^{-1}(z), -log g'(g^{-1}(z)))`.

        `params` has shape `(..., dim, 3 * num_bins - 1)`.
        """
        self._check_params(z, params)
        inside = jnp.abs(z) < self.bound
        clipped = jnp.clip(z, -self.bound, self.bound)
        x_knots, y_knots, derivatives = self._knots(params)
        index = self._bin_index(y_knots, clipped)
        x_left, x_right, y_left, y_right, d_left, d_right = self._bin_values(
            x_knots, y_knots, derivatives, index
        )

        width = x_right - x_left
        height = y_right - y_left
        slope = height / width
        offset = clipped - y_left
        curvature = d_left + d_right - 2.0 * slope
        # Solving g(x) = z for xi in the bin gives a * xi^2 + b * xi + c = 0 with c <= 0. The
        # root in [0, 1] is written as 2c / (-b - sqrt(b^2 - 4ac)), which avoids cancellation.
        a = height * (slope - d_left) + offset * curvature
        b = height * d_left - offset * curvature
        c = -slope * offset
        discriminant = jnp.maximum(b**2 - 4.0 * a * c, 0.0)
        xi = jnp.clip((2.0 * c) / (-b - jnp.sqrt(discriminant)), 0.0, 1.0)
        spline_value = x_left + xi * width

        xi_one_minus_xi = xi * (1.0 - xi)
        denominator = slope + curvature * xi_one_minus_xi
        derivative_numerator = slope**2 * (
            d_right * xi**2 + 2.0 * slope * xi_one_minus_xi + d_left * (1.0 - xi) ** 2
        )
        spline_log_det = 2.0 * jnp.log(denominator) - jnp.log(derivative_numerator)

        y = jnp.where(inside, spline_value, z)
        log_det = jnp.where(inside, spline_log_det, jnp.zeros_like(z))
        return y, log_det
