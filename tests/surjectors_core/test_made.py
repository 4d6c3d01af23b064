"""Tests of the MADE conditioner: masks, context reach and initial output."""

from __future__ import annotations

import functools

import haiku as hk
import jax
import numpy as np
import pytest

from surjectors_core import MADE

NUM_PARAMS = 2
CONTEXT_DIM = 3


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _perturbed(params):
    # Noise of 0.3 on every weight makes every allowed connection clearly non-zero, which the
    # zero-initialised output layer would otherwise hide.
    leaves, treedef = jax.tree.flatten(params)
    noisy = [leaf + 0.3 * _normal((7, index), leaf.shape) for index, leaf in enumerate(leaves)]
    return jax.tree.unflatten(treedef, noisy)


@functools.cache
def _made_jacobians(dim, hidden_sizes, order, conditional):
    """Return d outputs / d y and d outputs / d x for one input row, with perturbed params.

    Shapes are `(dim, NUM_PARAMS, dim)` and `(dim, NUM_PARAMS, CONTEXT_DIM)`, the second None
    without context.
    """
    made_fn = hk.transform(
        lambda y, x: MADE(NUM_PARAMS, hidden_sizes=hidden_sizes, order=order)(y, x)
    )
    y = _normal(0, (1, dim))
    x = _normal(1, (1, CONTEXT_DIM)) if conditional else None
    params = jax.jit(made_fn.init)(jax.random.PRNGKey(0), y, x)
    params = _perturbed(params)

    def outputs(y_row, x_row):
        x_batch = None if x_row is None else x_row[None]
        return made_fn.apply(params, None, y_row[None], x_batch)[0]

    @jax.jit
    def jacobians(y_row, x_row):
        jacobian_y = jax.jacfwd(outputs)(y_row, x_row)
        jacobian_x = None if x_row is None else jax.jacfwd(outputs, argnums=1)(y_row, x_row)
        return jacobian_y, jacobian_x

    jacobian_y, jacobian_x = jacobians(y[0], None if x is None else x[0])
    return np.asarray(jacobian_y), None if jacobian_x is None else np.asarray(jacobian_x)


# (dim, hidden_sizes, order): hidden layers narrower than dim, no hidden layer, and dim 1.
MADE_CASES = [
    (4, (16, 16), None),
    (4, (16, 16), (2, 0, 3, 1)),
    (6, (3,), (5, 1, 0, 4, 2, 3)),
    (4, (), (3, 2, 1, 0)),
    (1, (8,), None),
]


@pytest.mark.parametrize("conditional", [True, False])
@pytest.mark.parametrize("dim, hidden_sizes, order", MADE_CASES)
def test_made_jacobian_strictly_lower_triangular(dim, hidden_sizes, order, conditional):
    jacobian_y, _ = _made_jacobians(dim, hidden_sizes, order, conditional)
    order = np.arange(dim) if order is None else np.asarray(order)

    for param in range(NUM_PARAMS):
        # Rows and columns in autoregressive order: output i may depend on inputs j < i only.
        ordered = jacobian_y[order][:, param][:, order]
        # Masked weights contribute exact zeros, so no tolerance is needed.
        assert np.all(np.triu(ordered) == 0.0), f"param {param}: output reads a later input"
        if hidden_sizes != (3,):
            # With enough hidden units every allowed connection exists. Three units for six
            # dimensions cannot cover all pairs, which is valid but leaves some zeros.
            below = ordered[np.tril_indices(dim, k=-1)]
            assert np.all(below != 0.0), f"param {param}: an allowed input has no effect"


@pytest.mark.parametrize("dim, hidden_sizes, order", MADE_CASES)
def test_made_context_reaches_every_output(dim, hidden_sizes, order):
    _, jacobian_x = _made_jacobians(dim, hidden_sizes, order, True)

    # This includes output order[0], the first in the order, which reads no data at all.
    for output in range(dim):
        for param in range(NUM_PARAMS):
            gradient_norm = np.abs(jacobian_x[output, param]).sum()
            assert gradient_norm > 1e-3, f"output {output}, param {param} ignores the context"


def test_made_output_changes_with_context():
    made_fn = hk.transform(lambda y, x: MADE(NUM_PARAMS, hidden_sizes=(16, 16))(y, x))
    y = _normal(0, (5, 4))
    x = _normal(1, (5, CONTEXT_DIM))
    params = jax.jit(made_fn.init)(jax.random.PRNGKey(0), y, x)
    params = _perturbed(params)

    apply = jax.jit(made_fn.apply)
    outputs = apply(params, None, y, x)
    shifted = apply(params, None, y, x + 1.0)

    assert outputs.shape == (5, 4, NUM_PARAMS)
    # A unit context change moves outputs by O(0.1) with these weights. That is far above both
    # the 1e-4 threshold and float32 rounding of O(1) values.
    assert np.all(np.abs(outputs - shifted) > 1e-4)


def test_made_initial_output_is_zero():
    made_fn = hk.transform(lambda y, x: MADE(NUM_PARAMS)(y, x))
    y = _normal(0, (5, 4))
    x = _normal(1, (5, CONTEXT_DIM))
    params = jax.jit(made_fn.init)(jax.random.PRNGKey(0), y, x)

    np.testing.assert_array_equal(jax.jit(made_fn.apply)(params, None, y, x), 0.0)


@pytest.mark.parametrize("order", [[0, 1, 2], [0, 0, 1, 2], [0, 1, 2, 4], [[0, 1], [2, 3]]])
def test_made_rejects_invalid_order(order):
    made_fn = hk.transform(lambda y: MADE(NUM_PARAMS, order=order)(y))

    with pytest.raises(ValueError, match="permutation of range"):
        made_fn.init(jax.random.PRNGKey(0), np.zeros((2, 4), np.float32))


def test_made_rejects_context_batch_mismatch():
    made_fn = hk.transform(lambda y, x: MADE(NUM_PARAMS)(y, x))

    with pytest.raises(ValueError, match="same leading shape"):
        made_fn.init(
            jax.random.PRNGKey(0), np.zeros((2, 4), np.float32), np.zeros((3, 2), np.float32)
        )


@pytest.mark.parametrize("hidden_sizes", [(0,), (16, -1), (2.5,)])
def test_made_rejects_invalid_hidden_sizes(hidden_sizes):
    with pytest.raises(ValueError, match="positive integers"):
        hk.transform(lambda: MADE(NUM_PARAMS, hidden_sizes=hidden_sizes)).init(None)
