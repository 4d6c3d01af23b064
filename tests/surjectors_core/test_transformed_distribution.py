"""Tests of TransformedDistribution: normalisation, argument shapes and argument checks."""

from __future__ import annotations

import functools

import haiku as hk
import jax
import numpy as np
import pytest

from surjectors_core import (
    Chain,
    MaskedAutoregressive,
    MaskedAutoregressiveFunnel,
    TransformedDistribution,
)

CONTEXT_DIM = 3
HIDDEN = (8, 8)


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _perturbed(params, seed):
    # The initial flow is the identity over a standard normal decoder, and the noise turns it
    # into a non-Gaussian density.
    leaves, treedef = jax.tree.flatten(params)
    noisy = [leaf + 0.3 * _normal((seed, index), leaf.shape) for index, leaf in enumerate(leaves)]
    return jax.tree.unflatten(treedef, noisy)


def _two_to_one(with_maf, context_dim=None):
    layers = [MaskedAutoregressiveFunnel(1, data_dim=2, hidden_sizes=HIDDEN)]
    if with_maf:
        layers.insert(0, MaskedAutoregressive(hidden_sizes=HIDDEN))
    return TransformedDistribution(Chain(layers), latent_dim=1, context_dim=context_dim)


@pytest.mark.parametrize(
    "with_maf, conditional",
    [(False, True), (False, False), (True, True)],
    ids=["funnel-conditional", "funnel-unconditional", "maf_then_funnel-conditional"],
)
def test_two_to_one_density_integrates_to_one(with_maf, conditional):
    log_prob_fn = hk.transform(lambda y, x: _two_to_one(with_maf).log_prob(y, x))
    x = _normal(9, (CONTEXT_DIM,)) if conditional else None
    grid = np.linspace(-8.0, 8.0, 400, dtype=np.float32)
    spacing = float(grid[1] - grid[0])
    points = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)
    params = jax.jit(log_prob_fn.init)(jax.random.PRNGKey(0), points[:2], x)
    params = _perturbed(params, seed=1)

    log_density = jax.jit(log_prob_fn.apply)(params, None, points, x)

    log_density = np.asarray(log_density, dtype=np.float64).reshape(grid.size, grid.size)
    standard_normal = -0.5 * np.sum(points.astype(np.float64) ** 2, axis=-1) - np.log(2 * np.pi)
    # The density must be far from the initial standard normal, or the check is trivial.
    assert np.max(np.abs(log_density.ravel() - standard_normal)) > 1.0
    mass = np.trapezoid(np.trapezoid(np.exp(log_density), dx=spacing, axis=1), dx=spacing)
    # With these parameters the mass outside [-8, 8]^2 is below 3e-4 and the trapezoid error
    # at spacing 0.04 about 1e-5. A missing or sign-flipped log-det or decoder term moves the
    # mass by more than 0.1.
    assert abs(mass - 1.0) < 1e-3


@functools.cache
def _conditional_log_prob():
    """Return perturbed parameters and the jitted log_prob of a conditional MAF + funnel flow."""
    log_prob_fn = hk.transform(
        lambda y, x: _two_to_one(True, context_dim=CONTEXT_DIM).log_prob(y, x)
    )
    params = jax.jit(log_prob_fn.init)(
        jax.random.PRNGKey(0),
        np.zeros((1, 2), np.float32),
        np.zeros((1, CONTEXT_DIM), np.float32),
    )
    return _perturbed(params, seed=2), jax.jit(log_prob_fn.apply)


def test_log_prob_broadcasts_unbatched_arguments():
    params, log_prob = _conditional_log_prob()
    y = _normal(3, (5, 2))
    x = _normal(4, (5, CONTEXT_DIM))

    batched = log_prob(params, None, y, x)
    single = log_prob(params, None, y[0], x[0])
    one_context = log_prob(params, None, y, x[0])
    one_observation = log_prob(params, None, y[0], x)

    assert batched.shape == (5,)
    assert single.shape == ()
    # Broadcast and explicitly tiled inputs run the same float32 operations up to reduction
    # order, so they agree to rounding.
    np.testing.assert_allclose(single, batched[0], atol=1e-5)
    tiled_context = log_prob(params, None, y, np.tile(x[0], (5, 1)))
    np.testing.assert_allclose(one_context, tiled_context, atol=1e-5)
    tiled_observation = log_prob(params, None, np.tile(y[0], (5, 1)), x)
    np.testing.assert_allclose(one_observation, tiled_observation, atol=1e-5)


def test_log_prob_vmap_matches_batch():
    params, log_prob = _conditional_log_prob()
    y = _normal(3, (5, 2))
    x = _normal(4, (5, CONTEXT_DIM))

    mapped = jax.vmap(log_prob, in_axes=(None, None, 0, 0))(params, None, y, x)

    np.testing.assert_allclose(mapped, log_prob(params, None, y, x), atol=1e-5)


def test_log_prob_rejects_mismatched_arguments():
    params, log_prob = _conditional_log_prob()

    with pytest.raises(ValueError, match="different batch sizes"):
        log_prob(
            params, None, np.zeros((4, 2), np.float32), np.zeros((3, CONTEXT_DIM), np.float32)
        )
    with pytest.raises(ValueError, match="context_dim=3"):
        log_prob(params, None, np.zeros((4, 2), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="x is None"):
        log_prob(params, None, np.zeros((4, 2), np.float32), None)
    with pytest.raises(ValueError, match="y must have shape"):
        log_prob(
            params, None, np.zeros((4, 1, 2), np.float32), np.zeros((4, CONTEXT_DIM), np.float32)
        )


def test_log_prob_rejects_wrong_latent_dim():
    log_prob_fn = hk.transform(
        lambda y: TransformedDistribution(
            Chain([MaskedAutoregressive(hidden_sizes=HIDDEN)]), latent_dim=3
        ).log_prob(y)
    )

    with pytest.raises(ValueError, match="latent_dim is 3"):
        jax.jit(log_prob_fn.init)(jax.random.PRNGKey(0), np.zeros((2, 2), np.float32))


def _sampler(num_samples):
    """Return the jitted sample_and_log_prob of the flow in `_conditional_log_prob`."""
    sample_fn = hk.transform(
        lambda x: _two_to_one(True, context_dim=CONTEXT_DIM).sample_and_log_prob(
            x, num_samples=num_samples
        )
    )
    return jax.jit(sample_fn.apply)


def test_sample_shapes_follow_context():
    params, log_prob = _conditional_log_prob()
    key = jax.random.PRNGKey(5)
    x = _normal(4, (5, CONTEXT_DIM))

    per_row, per_row_log_prob = _sampler(None)(params, key, x)
    same_context, same_context_log_prob = _sampler(7)(params, key, x[0])

    assert per_row.shape == (5, 2)
    assert per_row_log_prob.shape == (5,)
    assert same_context.shape == (7, 2)
    assert same_context_log_prob.shape == (7,)
    # log_prob recomputes the sampled latent values, which agree to float32 rounding.
    np.testing.assert_allclose(log_prob(params, None, per_row, x), per_row_log_prob, atol=1e-4)
    np.testing.assert_allclose(
        log_prob(params, None, same_context, x[0]), same_context_log_prob, atol=1e-4
    )


def test_sample_rejects_inconsistent_num_samples():
    params, _ = _conditional_log_prob()
    key = jax.random.PRNGKey(5)
    x = _normal(4, (5, CONTEXT_DIM))

    with pytest.raises(ValueError, match="does not match the 5 context rows"):
        _sampler(4)(params, key, x)
    with pytest.raises(ValueError, match="num_samples is required"):
        _sampler(None)(params, key, x[0])
