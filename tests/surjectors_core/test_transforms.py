"""Tests of the elementwise transforms: the rational-quadratic spline and the affine map."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from surjectors_core import AffineTransform, RationalQuadraticSpline

SPLINE = RationalQuadraticSpline(num_bins=5, bound=3.0)


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _inputs_and_params(transform):
    # Inputs span both tails and every bin, and unit-variance raw parameters give bins of
    # clearly different sizes and slopes.
    y = np.linspace(-4.0, 4.0, 41, dtype=np.float32)
    return y, _normal(0, (y.size, transform.num_params))


@functools.cache
def _spline_functions():
    inverse = jax.jit(SPLINE.inverse_and_log_det)
    forward = jax.jit(SPLINE.forward_and_log_det)
    derivative = jax.jit(
        jax.vmap(jax.grad(lambda y, params: SPLINE.inverse_and_log_det(y, params)[0]))
    )
    return inverse, forward, derivative


def test_spline_with_zero_params_is_identity():
    inverse, _, _ = _spline_functions()
    y, params = _inputs_and_params(SPLINE)

    z, log_det = inverse(y, np.zeros_like(params))

    np.testing.assert_allclose(z, y, atol=1e-6)
    np.testing.assert_allclose(log_det, 0.0, atol=1e-6)


def test_spline_round_trip_and_log_det():
    inverse, forward, derivative = _spline_functions()
    y, params = _inputs_and_params(SPLINE)

    z, log_det = inverse(y, params)
    y_again, forward_log_det = forward(z, params)

    # Float32 rounding, amplified by the steepest bin of these parameters (slope about 35):
    # the largest measured errors are 2e-6 on values and 1.6e-5 on log-dets.
    np.testing.assert_allclose(y_again, y, atol=1e-5)
    np.testing.assert_allclose(forward_log_det, -log_det, atol=1e-4)
    # The log-det is the log of the derivative that autodiff computes from the map itself.
    np.testing.assert_allclose(log_det, np.log(derivative(y, params)), atol=1e-4)

    shared_params = np.tile(params[:1], (y.size, 1))
    z_shared, _ = inverse(y, shared_params)
    assert np.all(np.diff(z_shared) > 0), "the spline must be increasing"


def test_spline_derivative_is_one_at_bound():
    _, _, derivative = _spline_functions()
    _, params = _inputs_and_params(SPLINE)
    near_bound = np.asarray([-3.0 + 1e-4, 3.0 - 1e-4, -3.0 - 1e-4, 3.0 + 1e-4], np.float32)

    slopes = derivative(near_bound, params[:4])

    # The knot derivative at the bound is exactly 1, and 1e-4 inside it the slope differs by
    # about 1e-4 times the second derivative, which is O(10) for these parameters.
    np.testing.assert_allclose(slopes, 1.0, atol=1e-2)


@pytest.mark.parametrize("direction", ["inverse", "forward"])
def test_spline_tails_are_finite_far_out(direction):
    _, params = _inputs_and_params(SPLINE)
    values = np.asarray([1e4, -1e4], np.float32)

    def total(values, params):
        method = getattr(SPLINE, f"{direction}_and_log_det")
        outputs, log_det = method(values, params)
        return jnp.sum(outputs) + jnp.sum(log_det)

    value_gradient, params_gradient = jax.grad(total, argnums=(0, 1))(values, params[:2])

    np.testing.assert_allclose(value_gradient, 1.0)
    assert np.all(np.isfinite(params_gradient))


def test_affine_round_trip():
    transform = AffineTransform(min_scale=0.1)
    y, params = _inputs_and_params(transform)

    z, log_det = transform.inverse_and_log_det(y, params)
    y_again, forward_log_det = transform.forward_and_log_det(z, params)

    np.testing.assert_allclose(y_again, y, atol=1e-5)
    np.testing.assert_allclose(forward_log_det, -log_det, atol=1e-6)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"num_bins": 0}, "num_bins must be a positive integer"),
        ({"bound": 0.0}, "bound must be positive"),
        ({"num_bins": 4, "min_bin_size": 0.3}, "min_bin_size must satisfy"),
        ({"min_derivative": 1.5}, "0 < min_scale < 1"),
    ],
)
def test_spline_rejects_invalid_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        RationalQuadraticSpline(**arguments)


def test_spline_rejects_wrong_param_shape():
    with pytest.raises(ValueError, match=r"needs parameters of shape \(3, 14\)"):
        SPLINE.inverse_and_log_det(np.zeros(3, np.float32), np.zeros((3, 13), np.float32))
