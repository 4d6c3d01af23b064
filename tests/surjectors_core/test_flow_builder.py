"""Tests of make_flow and validate_latent_widths."""

from __future__ import annotations

import haiku as hk
import jax
import numpy as np
import pytest

import surjectors_core
from surjectors_core import (
    LULinearFunnel,
    MaskedAutoregressive,
    MaskedAutoregressiveFunnel,
    MaskedCoupling,
    Permutation,
    Slice,
    make_flow,
    validate_latent_widths,
)

RULE = "latent_widths must be positive integers that strictly decrease"


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize(
    "latent_widths, problem",
    [
        ([50, 60], r"latent_widths\[1\] = 60 is not smaller than latent_widths\[0\] = 50"),
        ([50, 50], r"latent_widths\[1\] = 50 is not smaller than latent_widths\[0\] = 50"),
        ([0], r"latent_widths\[0\] = 0 is not positive"),
        ([-1], r"latent_widths\[0\] = -1 is not positive"),
        ([120], r"latent_widths\[0\] = 120 is not smaller than data_dim=100"),
        ([100], r"latent_widths\[0\] = 100 is not smaller than data_dim=100"),
        ([50.0], r"latent_widths\[0\] = 50.0 is not an integer"),
        ([True], r"latent_widths\[0\] = True is not an integer"),
        ("50", "got the string '50'"),
        (50, "not a sequence"),
    ],
)
def test_invalid_latent_widths_rejected(latent_widths, problem):
    with pytest.raises(ValueError, match=RULE) as validate_error:
        validate_latent_widths(100, latent_widths)
    assert validate_error.match(problem)

    # make_flow runs outside hk.transform here, so reaching any module construction would
    # raise a Haiku error instead of this ValueError.
    with pytest.raises(ValueError, match=RULE):
        make_flow(100, 5, latent_widths)


def test_valid_latent_widths_accepted():
    assert validate_latent_widths(100, [50, 25]) == (50, 25)
    assert validate_latent_widths(100, (np.int64(99),)) == (99,)
    assert validate_latent_widths(100, []) == ()
    assert callable(make_flow(100, 5, [50, 25]))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"data_dim": 0}, "data_dim must be a positive integer"),
        ({"context_dim": -1}, "context_dim must be a non-negative integer"),
        ({"num_layers_per_stage": 0}, "num_layers_per_stage must be a positive integer"),
        ({"hidden_sizes": (50, 0)}, "hidden_sizes must contain positive integers"),
        ({"min_scale": 1.0}, "min_scale must satisfy 0 < min_scale < 1"),
        ({"min_scale": 0.0}, "min_scale must satisfy 0 < min_scale < 1"),
    ],
)
def test_invalid_builder_arguments_rejected(arguments, message):
    kwargs = {"data_dim": 10, "context_dim": 2, "latent_widths": [5]} | arguments

    with pytest.raises(ValueError, match=message):
        make_flow(**kwargs)


def _layout(make):
    """Return (layer type, input width) for each layer, from data to latent values."""
    layout = []

    def build():
        distribution = make()
        for layer in distribution.flow.layers:
            if isinstance(layer, Permutation):
                layout.append((Permutation, layer.permutation.size))
            elif isinstance(layer, MaskedAutoregressiveFunnel):
                layout.append((MaskedAutoregressiveFunnel, layer.data_dim, layer.num_kept))
            else:
                layout.append((type(layer),))

    # Building creates modules but no parameters, so init compiles nothing.
    hk.transform(build).init(None)
    return layout


def test_builder_layout_funnels_through_widths():
    maf, reverse, funnel = MaskedAutoregressive, Permutation, MaskedAutoregressiveFunnel

    layout = _layout(make_flow(100, 5, [50, 25]))

    assert layout == [
        (maf,),
        (reverse, 100),
        (maf,),
        (funnel, 100, 50),
        (maf,),
        (reverse, 50),
        (maf,),
        (funnel, 50, 25),
        (maf,),
        (reverse, 25),
        (maf,),
    ]


def test_builder_without_widths_is_bijective():
    layout = _layout(make_flow(6, 0, num_layers_per_stage=3))

    assert layout == [
        (MaskedAutoregressive,),
        (Permutation, 6),
        (MaskedAutoregressive,),
        (Permutation, 6),
        (MaskedAutoregressive,),
    ]


def _perturbed(params):
    leaves, treedef = jax.tree.flatten(params)
    noisy = [leaf + 0.3 * _normal((11, index), leaf.shape) for index, leaf in enumerate(leaves)]
    return jax.tree.unflatten(treedef, noisy)


def test_conditional_flow_end_to_end():
    make = surjectors_core.make_flow(data_dim=8, context_dim=5, latent_widths=[6])
    log_prob_fn = hk.transform(lambda y, x: make().log_prob(y, x))
    sample_fn = hk.transform(lambda x, n: make().sample_and_log_prob(x, num_samples=n))
    y = _normal(0, (7, 8))
    theta = _normal(1, (7, 5))

    params = jax.jit(log_prob_fn.init)(jax.random.PRNGKey(0), y, theta)
    # eval_shape traces the sampler's init without compiling it, enough to compare structure.
    sample_params = jax.eval_shape(
        lambda key, x: sample_fn.init(key, x, None), jax.random.PRNGKey(0), theta
    )
    assert sample_params == jax.eval_shape(lambda: params)

    params = _perturbed(params)
    log_prob = jax.jit(log_prob_fn.apply)
    samples, sample_log_prob = jax.jit(sample_fn.apply, static_argnums=3)(
        params, jax.random.PRNGKey(2), theta, None
    )

    assert log_prob(params, None, y, theta).shape == (7,)
    assert samples.shape == (7, 8)
    # Eight dimensions through four MAF layers and a funnel, in float32: the recomputed latent
    # values differ from the sampled ones by ~1e-6, which moves log densities of magnitude ~10
    # by well under 1e-3.
    np.testing.assert_allclose(log_prob(params, None, samples, theta), sample_log_prob, atol=1e-3)
    # Any dependence on the context moves log densities of magnitude ~10 by O(1).
    shifted = log_prob(params, None, y, theta + 1.0)
    assert np.all(np.abs(shifted - log_prob(params, None, y, theta)) > 1e-2)


def test_unconditional_flow_end_to_end():
    make = make_flow(4, 0, [2], num_layers_per_stage=1, hidden_sizes=(16, 16))
    log_prob_fn = hk.transform(lambda y: make().log_prob(y))
    sample_fn = hk.transform(lambda: make().sample_and_log_prob(num_samples=5))

    params = jax.jit(log_prob_fn.init)(jax.random.PRNGKey(0), _normal(0, (5, 4)))
    params = _perturbed(params)
    samples, sample_log_prob = jax.jit(sample_fn.apply)(params, jax.random.PRNGKey(2))

    assert samples.shape == (5, 4)
    # Same float32 round trip as in the conditional case, through fewer dimensions.
    np.testing.assert_allclose(
        jax.jit(log_prob_fn.apply)(params, None, samples), sample_log_prob, atol=1e-3
    )
    with_context = hk.transform(lambda y, x: make().log_prob(y, x))
    with pytest.raises(ValueError, match="context_dim=0"):
        with_context.apply(params, None, samples, np.zeros((5, 2), np.float32))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"transform": "cubic"}, r"transform must be one of \['affine', 'spline'\]"),
        ({"family": "residual"}, r"family must be one of \['autoregressive', 'coupling'\]"),
        ({"funnel": "pool"}, "funnel must be one of"),
        ({"family": "coupling", "latent_widths": [1]}, "needs data_dim and every latent width"),
        ({"transform": "spline", "num_bins": 0}, "num_bins must be a positive integer"),
        ({"transform": "spline", "bound": -1.0}, "bound must be positive"),
    ],
)
def test_invalid_builder_options_rejected(arguments, message):
    kwargs = {"data_dim": 10, "context_dim": 2, "latent_widths": [5]} | arguments

    with pytest.raises(ValueError, match=message):
        make_flow(**kwargs)


def test_builder_coupling_layout_and_funnel_choice():
    coupling, reverse = MaskedCoupling, Permutation

    layout = _layout(make_flow(6, 2, [3], family="coupling", funnel="linear"))

    assert layout == [
        (coupling,),
        (reverse, 6),
        (coupling,),
        (LULinearFunnel,),
        (coupling,),
        (reverse, 3),
        (coupling,),
    ]
    slice_layout = _layout(make_flow(6, 2, [3], num_layers_per_stage=1, funnel="slice"))
    assert slice_layout == [(MaskedAutoregressive,), (Slice,), (MaskedAutoregressive,)]


@pytest.mark.parametrize(
    "options",
    [
        {"transform": "spline", "family": "autoregressive"},
        {"transform": "spline", "family": "coupling"},
    ],
    ids=["spline-autoregressive", "spline-coupling"],
)
def test_spline_flow_sample_matches_log_prob(options):
    make = make_flow(4, 2, [2], num_layers_per_stage=1, hidden_sizes=(8,), **options)
    log_prob_fn = hk.transform(lambda y, x: make().log_prob(y, x))
    sample_fn = hk.transform(lambda x: make().sample_and_log_prob(x))
    theta = _normal(1, (5, 2))

    shapes = jax.eval_shape(log_prob_fn.init, jax.random.PRNGKey(0), _normal(0, (5, 4)), theta)
    params = _perturbed(jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes))
    samples, sample_log_prob = jax.jit(sample_fn.apply)(params, jax.random.PRNGKey(2), theta)
    log_prob = jax.jit(log_prob_fn.apply)(params, None, samples, theta)

    assert samples.shape == (5, 4)
    # Spline round trips in float32 agree to ~1e-4 on log densities (see test_layers).
    np.testing.assert_allclose(log_prob, sample_log_prob, atol=1e-3)
