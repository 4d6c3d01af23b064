"""Shared checks over a registry of bijective and surjective layers, with and without context.

All parameters are the initial ones plus N(0, 0.3^2) noise from fixed NumPy seeds, because the
initial layers are the identity and would pass most checks trivially.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from surjectors_core import (
    Chain,
    MaskedAutoregressive,
    MaskedAutoregressiveFunnel,
    Permutation,
    TransformedDistribution,
    reverse_permutation,
)

DATA_DIM = 4
CONTEXT_DIM = 3
BATCH = 6
HIDDEN = (16, 16)
PARAM_NOISE = 0.3

# Float32 tolerances, about 30 times the largest errors measured for this registry with these
# parameters (4e-7 on latent and data values, 1.5e-6 on log-dets of magnitude up to ~10).
# They stay far below the O(0.1) differences that a wrong mask, sign or missing term produces.
VALUE_ATOL = 1e-5
LOG_DENSITY_ATOL = 1e-4


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """A layer factory (called inside hk.transform) and what the checks need to know of it."""

    factory: Callable[[], object]
    latent_dim: int
    surjective: bool
    uses_context: bool


def _bijective_chain():
    return Chain(
        [
            MaskedAutoregressive(hidden_sizes=HIDDEN),
            reverse_permutation(DATA_DIM),
            MaskedAutoregressive(hidden_sizes=HIDDEN, order=[1, 3, 0, 2]),
        ]
    )


def _surjective_chain():
    # Two funnels and a one-dimensional MAF at the end cover the narrowest shapes.
    return Chain(
        [
            reverse_permutation(DATA_DIM),
            MaskedAutoregressiveFunnel(3, data_dim=DATA_DIM, hidden_sizes=HIDDEN),
            MaskedAutoregressive(hidden_sizes=HIDDEN),
            MaskedAutoregressiveFunnel(1, data_dim=3, hidden_sizes=HIDDEN, order=[0]),
            MaskedAutoregressive(hidden_sizes=HIDDEN),
        ]
    )


LAYERS = {
    "maf": LayerCase(lambda: MaskedAutoregressive(hidden_sizes=HIDDEN), DATA_DIM, False, True),
    "maf_no_hidden": LayerCase(
        lambda: MaskedAutoregressive(hidden_sizes=()), DATA_DIM, False, True
    ),
    "permutation": LayerCase(lambda: Permutation([1, 3, 0, 2]), DATA_DIM, False, False),
    "funnel": LayerCase(
        lambda: MaskedAutoregressiveFunnel(
            2, data_dim=DATA_DIM, hidden_sizes=HIDDEN, order=[1, 0]
        ),
        2,
        True,
        True,
    ),
    "bijective_chain": LayerCase(_bijective_chain, DATA_DIM, False, True),
    "surjective_chain": LayerCase(_surjective_chain, 1, True, True),
}

ALL_CASES = [(name, conditional) for name in LAYERS for conditional in (True, False)]
BIJECTIVE_CASES = [case for case in ALL_CASES if not LAYERS[case[0]].surjective]
CONTEXT_CASES = [name for name, case in LAYERS.items() if case.uses_context]
CHAIN_CASES = [case for case in ALL_CASES if case[0].endswith("chain")]


def _case_id(case):
    name, conditional = case
    return f"{name}-{'conditional' if conditional else 'unconditional'}"


def _normal(seed, shape):
    # NumPy draws avoid compiling a JAX random kernel for every parameter shape, which would
    # dominate the run time of this file.
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _perturbed(params, seed=3):
    leaves, treedef = jax.tree.flatten(params)
    noisy = [
        leaf + PARAM_NOISE * _normal((seed, index), leaf.shape)
        for index, leaf in enumerate(leaves)
    ]
    return jax.tree.unflatten(treedef, noisy)


def _data(conditional):
    y = _normal(1, (BATCH, DATA_DIM))
    x = _normal(2, (BATCH, CONTEXT_DIM)) if conditional else None
    return y, x


@dataclasses.dataclass(frozen=True)
class _Setup:
    initial_params: dict
    params: dict
    inverse: Callable  # (params, y, x) -> (z, contribution)
    forward: Callable  # (params, rng, z, x) -> (y, forward value)
    inverse_eager: Callable
    forward_eager: Callable


@functools.cache
def _setup(name, conditional):
    """Initialise, perturb and jit one registry layer. The cache makes each compile once."""
    case = LAYERS[name]
    inverse = hk.transform(lambda y, x: case.factory().inverse_and_log_det(y, x))
    forward = hk.transform(lambda z, x: case.factory().forward_and_log_det(z, x))
    y, x = _data(conditional)
    initial_params = jax.jit(inverse.init)(jax.random.PRNGKey(0), y, x)

    def inverse_eager(params, y, x):
        return inverse.apply(params, None, y, x)

    return _Setup(
        initial_params=initial_params,
        params=_perturbed(initial_params),
        inverse=jax.jit(inverse_eager),
        forward=jax.jit(forward.apply),
        inverse_eager=inverse_eager,
        forward_eager=forward.apply,
    )


def _latent(name):
    return _normal(4, (BATCH, LAYERS[name].latent_dim))


@pytest.mark.parametrize("case", ALL_CASES, ids=_case_id)
def test_forward_then_inverse_round_trip(case):
    name, conditional = case
    setup = _setup(name, conditional)
    _, x = _data(conditional)
    z = _latent(name)

    y, forward_value = setup.forward(setup.params, jax.random.PRNGKey(5), z, x)
    z_again, contribution = setup.inverse(setup.params, y, x)

    assert y.shape == (BATCH, DATA_DIM)
    assert forward_value.shape == (BATCH,)
    np.testing.assert_allclose(z_again, z, atol=VALUE_ATOL)
    # The forward value is minus the inverse contribution at the same data, for funnels too.
    np.testing.assert_allclose(contribution, -forward_value, atol=LOG_DENSITY_ATOL)


@pytest.mark.parametrize("case", BIJECTIVE_CASES, ids=_case_id)
def test_inverse_then_forward_round_trip(case):
    name, conditional = case
    setup = _setup(name, conditional)
    y, x = _data(conditional)

    z, log_det = setup.inverse(setup.params, y, x)
    y_again, forward_log_det = setup.forward(setup.params, None, z, x)

    np.testing.assert_allclose(y_again, y, atol=VALUE_ATOL)
    np.testing.assert_allclose(forward_log_det, -log_det, atol=LOG_DENSITY_ATOL)


@pytest.mark.parametrize("case", BIJECTIVE_CASES, ids=_case_id)
def test_bijection_log_det_matches_jacobian(case):
    name, conditional = case
    setup = _setup(name, conditional)
    y, x = _data(conditional)
    _, log_det = setup.inverse(setup.params, y, x)

    for row in range(BATCH):
        x_row = None if x is None else x[row : row + 1]

        def transform_row(y_row, x_row=x_row):
            return setup.inverse(setup.params, y_row[None], x_row)[0][0]

        jacobian = jax.jacfwd(transform_row)(y[row])
        _, expected = jnp.linalg.slogdet(jacobian)
        # slogdet of a 4x4 float32 matrix with O(1) entries is accurate to ~1e-6.
        np.testing.assert_allclose(log_det[row], expected, atol=VALUE_ATOL)


@pytest.mark.parametrize("conditional", [True, False])
def test_funnel_log_det_matches_jacobian(conditional):
    """The contribution minus the decoder term is log|det dz/dy+| with y- held fixed."""
    case = LAYERS["funnel"]
    setup = _setup("funnel", conditional)
    y, x = _data(conditional)
    num_kept = case.latent_dim

    def contribution_parts(y, x):
        funnel = case.factory()
        z, contribution = funnel.inverse_and_log_det(y, x)
        return contribution, funnel.decoder.log_prob(y[..., num_kept:], z, x)

    parts = jax.jit(hk.transform(contribution_parts).apply)
    contribution, decoder_log_prob = parts(setup.params, None, y, x)
    log_det = contribution - decoder_log_prob

    for row in range(BATCH):
        x_row = None if x is None else x[row : row + 1]
        y_minus = y[row, num_kept:]

        def kept_to_latent(y_plus, x_row=x_row, y_minus=y_minus):
            y_row = jnp.concatenate([y_plus, y_minus])[None]
            return setup.inverse(setup.params, y_row, x_row)[0][0]

        jacobian = jax.jacfwd(kept_to_latent)(y[row, :num_kept])
        assert jacobian.shape == (num_kept, num_kept)
        _, expected = jnp.linalg.slogdet(jacobian)
        # Same tolerance as for bijections, because the subtraction adds only one rounding.
        np.testing.assert_allclose(log_det[row], expected, atol=VALUE_ATOL)


@pytest.mark.parametrize("name", CONTEXT_CASES)
def test_context_changes_every_latent(name):
    setup = _setup(name, True)
    y, x = _data(True)
    other_x = x + 1.0

    z, contribution = setup.inverse(setup.params, y, x)
    other_z, other_contribution = setup.inverse(setup.params, y, other_x)

    # Perturbed weights of size 0.3 move every output by O(0.1) for a unit context change,
    # far above float32 rounding, so 1e-3 separates "depends on x" from "ignores x".
    for dim in range(z.shape[-1]):
        assert np.all(np.abs(z[:, dim] - other_z[:, dim]) > 1e-3), f"z[:, {dim}] ignores x"
    assert np.all(np.abs(contribution - other_contribution) > 1e-3)


# Eager execution compiles every primitive separately, so it runs on two cheaper cases that
# between them contain every layer type.
@pytest.mark.parametrize("case", [("bijective_chain", True), ("funnel", True)], ids=_case_id)
def test_jit_matches_eager(case):
    name, conditional = case
    setup = _setup(name, conditional)
    y, x = _data(conditional)
    z = _latent(name)
    key = jax.random.PRNGKey(6)

    jit_inverse = setup.inverse(setup.params, y, x)
    eager_inverse = setup.inverse_eager(setup.params, y, x)
    jit_forward = setup.forward(setup.params, key, z, x)
    eager_forward = setup.forward_eager(setup.params, key, z, x)

    # XLA may fuse or reorder float32 operations under jit, so results agree to rounding only.
    for jit_value, eager_value in zip(jit_inverse, eager_inverse, strict=True):
        np.testing.assert_allclose(jit_value, eager_value, atol=VALUE_ATOL)
    for jit_value, eager_value in zip(jit_forward, eager_forward, strict=True):
        np.testing.assert_allclose(jit_value, eager_value, atol=VALUE_ATOL)


@pytest.mark.parametrize("case", CHAIN_CASES, ids=_case_id)
def test_vmap_over_rows_matches_batch(case):
    name, conditional = case
    setup = _setup(name, conditional)
    y, x = _data(conditional)

    batched_z, batched_contribution = setup.inverse(setup.params, y, x)
    row_inverse = jax.vmap(setup.inverse, in_axes=(None, 0, None if x is None else 0))
    mapped_z, mapped_contribution = row_inverse(setup.params, y, x)

    # Batched and per-row matrix products may use different float32 reduction orders.
    np.testing.assert_allclose(mapped_z, batched_z, atol=VALUE_ATOL)
    np.testing.assert_allclose(mapped_contribution, batched_contribution, atol=VALUE_ATOL)


@pytest.mark.parametrize("case", CHAIN_CASES, ids=_case_id)
def test_sample_log_prob_matches_log_prob(case):
    name, conditional = case
    layer_case = LAYERS[name]
    setup = _setup(name, conditional)
    _, x = _data(conditional)

    def distribution():
        return TransformedDistribution(layer_case.factory(), layer_case.latent_dim)

    sample_fn = hk.transform(lambda x: distribution().sample_and_log_prob(x, num_samples=BATCH))
    log_prob_fn = hk.transform(lambda y, x: distribution().log_prob(y, x))
    samples, sample_log_prob = jax.jit(sample_fn.apply)(setup.params, jax.random.PRNGKey(7), x)
    log_prob = jax.jit(log_prob_fn.apply)(setup.params, None, samples, x)

    assert samples.shape == (BATCH, DATA_DIM)
    assert np.all(np.isfinite(sample_log_prob))
    np.testing.assert_allclose(log_prob, sample_log_prob, atol=LOG_DENSITY_ATOL)


def test_forward_and_inverse_share_params():
    # The surjective chain contains every layer type.
    name = "surjective_chain"
    case = LAYERS[name]
    y, x = _data(True)
    z = _latent(name)
    inverse = hk.transform(lambda y, x: case.factory().inverse_and_log_det(y, x))
    forward = hk.transform(lambda z, x: case.factory().forward_and_log_det(z, x))

    # eval_shape traces init without compiling it, which is all a structure check needs.
    inverse_params = jax.eval_shape(inverse.init, jax.random.PRNGKey(0), y, x)
    forward_params = jax.eval_shape(forward.init, jax.random.PRNGKey(0), z, x)

    assert forward_params == inverse_params


@pytest.mark.parametrize("name", ["maf", "funnel"])
def test_initial_bijective_part_is_identity(name):
    case = LAYERS[name]
    setup = _setup(name, True)
    y, x = _data(True)

    z, contribution = setup.inverse(setup.initial_params, y, x)

    num_kept = case.latent_dim
    np.testing.assert_allclose(z, y[:, :num_kept], atol=1e-6)
    if not case.surjective:
        np.testing.assert_allclose(contribution, 0.0, atol=1e-6)
    else:
        # The initial decoder is a standard normal over the dropped coordinates.
        y_minus = np.asarray(y[:, num_kept:])
        expected = np.sum(-0.5 * y_minus**2 - 0.5 * np.log(2 * np.pi), axis=-1)
        np.testing.assert_allclose(contribution, expected, atol=1e-5)


class _MeanShiftDecoder(hk.Module):
    """User decoder: y- ~ N(sum(z) + mean(x) + offset, 1) per coordinate, offset learned."""

    def __init__(self, output_dim, name=None):
        super().__init__(name=name)
        self.output_dim = output_dim

    def _mean(self, z, x):
        offset = hk.get_parameter("offset", (self.output_dim,), z.dtype, init=jnp.zeros)
        mean = jnp.sum(z, axis=-1, keepdims=True) + offset
        if x is not None:
            mean = mean + jnp.mean(x, axis=-1, keepdims=True)
        return mean

    def log_prob(self, y_minus, z, x=None):
        standardized = y_minus - self._mean(z, x)
        return jnp.sum(-0.5 * standardized**2 - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def sample(self, z, x=None):
        mean = self._mean(z, x)
        return mean + jax.random.normal(hk.next_rng_key(), mean.shape, mean.dtype)


def test_funnel_accepts_user_decoder():
    def distribution():
        # No data_dim: the decoder's samples define how many coordinates are dropped.
        funnel = MaskedAutoregressiveFunnel(2, decoder=_MeanShiftDecoder(3), hidden_sizes=HIDDEN)
        return TransformedDistribution(funnel, latent_dim=2)

    sample_fn = hk.transform(lambda x: distribution().sample_and_log_prob(x))
    log_prob_fn = hk.transform(lambda y, x: distribution().log_prob(y, x))
    x = _normal(2, (BATCH, CONTEXT_DIM))
    params = jax.jit(log_prob_fn.init)(jax.random.PRNGKey(0), _normal(1, (BATCH, 5)), x)
    params = _perturbed(params)

    samples, sample_log_prob = jax.jit(sample_fn.apply)(params, jax.random.PRNGKey(8), x)
    log_prob = jax.jit(log_prob_fn.apply)(params, None, samples, x)

    assert samples.shape == (BATCH, 5)
    np.testing.assert_allclose(log_prob, sample_log_prob, atol=LOG_DENSITY_ATOL)


def _build(factory):
    """Construct modules inside hk.transform, where Haiku allows it, and discard them."""
    hk.transform(factory).init(None)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"num_kept": 4, "data_dim": 4}, "num_kept=4 and data_dim=4"),
        ({"num_kept": 5, "data_dim": 4}, "num_kept=5 and data_dim=4"),
        ({"num_kept": 0, "data_dim": 4}, "num_kept must be a positive integer"),
        ({"num_kept": 2}, "needs data_dim when decoder is None"),
        ({"num_kept": 2, "data_dim": 4, "min_scale": -1.0}, "0 < min_scale < 1"),
    ],
)
def test_funnel_rejects_invalid_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        _build(lambda: MaskedAutoregressiveFunnel(**arguments))


def test_funnel_checks_num_kept_at_call():
    def call():
        funnel = MaskedAutoregressiveFunnel(4, decoder=_MeanShiftDecoder(1))
        return funnel.inverse_and_log_det(np.zeros((2, 4), np.float32))

    with pytest.raises(ValueError, match="num_kept=4 and data_dim=4"):
        _build(call)


def test_funnel_checks_data_dim_at_call():
    def call():
        funnel = MaskedAutoregressiveFunnel(2, data_dim=4)
        return funnel.inverse_and_log_det(np.zeros((2, 5), np.float32))

    with pytest.raises(ValueError, match="built for data_dim=4"):
        _build(call)


@pytest.mark.parametrize(
    "permutation, message",
    [
        ([0, 0, 1], "each of 0..2 exactly once"),
        ([1, 2], "each of 0..1 exactly once"),
        ([], "non-empty 1-D sequence of integers"),
        ([0.0, 1.0], "non-empty 1-D sequence of integers"),
    ],
)
def test_permutation_rejects_invalid_arguments(permutation, message):
    with pytest.raises(ValueError, match=message):
        _build(lambda: Permutation(permutation))


def test_permutation_checks_input_size():
    def call():
        return Permutation([1, 0, 2]).inverse_and_log_det(np.zeros((2, 4), np.float32))

    with pytest.raises(ValueError, match="Permutation of size 3"):
        _build(call)


def test_chain_rejects_no_layers():
    with pytest.raises(ValueError, match="at least one layer"):
        _build(lambda: Chain([]))


@pytest.mark.parametrize("min_scale", [0.0, 1.0, 2.0])
def test_maf_rejects_invalid_min_scale(min_scale):
    with pytest.raises(ValueError, match="0 < min_scale < 1"):
        _build(lambda: MaskedAutoregressive(min_scale=min_scale))
