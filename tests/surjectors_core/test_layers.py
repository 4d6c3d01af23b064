"""Shared checks over one registry of every bijective and surjective layer type.

Each layer runs with and without context, with affine and spline transforms where it has a
transform. All parameters are N(0, 0.3^2) draws from fixed NumPy seeds, because the initial
layers are the identity and would pass most checks trivially.
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
    GaussianDecoder,
    LULinear,
    LULinearFunnel,
    MaskedAutoregressive,
    MaskedAutoregressiveFunnel,
    MaskedCoupling,
    MaskedCouplingFunnel,
    Permutation,
    RationalQuadraticSpline,
    Slice,
    TransformedDistribution,
    random_permutation,
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
# Spline round trips solve a quadratic per coordinate, and where a bin is steep its inverse
# amplifies float32 rounding. The largest errors measured for the spline cases are 2.2e-5 on
# values and 1.4e-4 on log densities, so these are about 5 times larger.
SPLINE_VALUE_ATOL = 1e-4
SPLINE_LOG_DENSITY_ATOL = 1e-3


def _tolerances(name):
    """Return (value atol, log density atol) for a registry case."""
    if "spline" in name:
        return SPLINE_VALUE_ATOL, SPLINE_LOG_DENSITY_ATOL
    return VALUE_ATOL, LOG_DENSITY_ATOL


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """A layer factory (called inside hk.transform) and what the checks need to know of it.

    The factory takes the data dimension, which only the funnel factories use: they keep half
    of the coordinates, so the density checks can build 2 -> 1 versions of them.
    """

    factory: Callable[..., object]
    latent_dim: int
    surjective: bool
    uses_context: bool


def _spline():
    # Bound 3 puts a few of the N(0, 1) test inputs in the linear tails.
    return RationalQuadraticSpline(num_bins=4, bound=3.0)


def _funnel_case(make_funnel):
    """Registry entry for a funnel class that keeps half of the coordinates."""

    def factory(data_dim=DATA_DIM):
        return make_funnel(data_dim // 2, data_dim)

    return LayerCase(factory, DATA_DIM // 2, True, True)


def _bijective_chain(data_dim=DATA_DIM):
    return Chain(
        [
            MaskedAutoregressive(hidden_sizes=HIDDEN),
            reverse_permutation(DATA_DIM),
            MaskedAutoregressive(hidden_sizes=HIDDEN, order=[1, 3, 0, 2]),
        ]
    )


def _surjective_chain(data_dim=DATA_DIM):
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


def _spline_surjective_chain(data_dim=DATA_DIM):
    # Every layer type that the other chains lack, with spline transforms where possible.
    return Chain(
        [
            LULinear(DATA_DIM),
            MaskedCoupling([True, False, True, False], hidden_sizes=HIDDEN, transform=_spline()),
            random_permutation(DATA_DIM, seed=0),
            MaskedCouplingFunnel(3, data_dim=DATA_DIM, hidden_sizes=HIDDEN, transform=_spline()),
            LULinearFunnel(2, data_dim=3, hidden_sizes=HIDDEN),
            Slice(1, data_dim=2, hidden_sizes=HIDDEN),
        ]
    )


LAYERS = {
    "maf": LayerCase(lambda: MaskedAutoregressive(hidden_sizes=HIDDEN), DATA_DIM, False, True),
    "maf_no_hidden": LayerCase(
        lambda: MaskedAutoregressive(hidden_sizes=()), DATA_DIM, False, True
    ),
    "maf_spline": LayerCase(
        lambda: MaskedAutoregressive(hidden_sizes=HIDDEN, transform=_spline()),
        DATA_DIM,
        False,
        True,
    ),
    "coupling": LayerCase(
        lambda: MaskedCoupling([True, False, False, True], hidden_sizes=HIDDEN),
        DATA_DIM,
        False,
        True,
    ),
    "coupling_spline": LayerCase(
        lambda: MaskedCoupling(
            [False, True, True, False], hidden_sizes=HIDDEN, transform=_spline()
        ),
        DATA_DIM,
        False,
        True,
    ),
    "lu_linear": LayerCase(lambda: LULinear(DATA_DIM), DATA_DIM, False, False),
    "permutation": LayerCase(lambda: Permutation([1, 3, 0, 2]), DATA_DIM, False, False),
    "random_permutation": LayerCase(
        lambda: random_permutation(DATA_DIM, seed=1), DATA_DIM, False, False
    ),
    "funnel": LayerCase(
        lambda data_dim=DATA_DIM: MaskedAutoregressiveFunnel(
            data_dim // 2,
            data_dim=data_dim,
            hidden_sizes=HIDDEN,
            order=[1, 0] if data_dim == 4 else None,
        ),
        2,
        True,
        True,
    ),
    "funnel_spline": _funnel_case(
        lambda num_kept, data_dim: MaskedAutoregressiveFunnel(
            num_kept, data_dim=data_dim, hidden_sizes=HIDDEN, transform=_spline()
        )
    ),
    "coupling_funnel": _funnel_case(
        lambda num_kept, data_dim: MaskedCouplingFunnel(
            num_kept, data_dim=data_dim, hidden_sizes=HIDDEN
        )
    ),
    "coupling_funnel_spline": _funnel_case(
        lambda num_kept, data_dim: MaskedCouplingFunnel(
            num_kept, data_dim=data_dim, hidden_sizes=HIDDEN, transform=_spline()
        )
    ),
    "lu_funnel": _funnel_case(
        lambda num_kept, data_dim: LULinearFunnel(num_kept, data_dim=data_dim, hidden_sizes=HIDDEN)
    ),
    "slice": _funnel_case(
        lambda num_kept, data_dim: Slice(num_kept, data_dim=data_dim, hidden_sizes=HIDDEN)
    ),
    "bijective_chain": LayerCase(_bijective_chain, DATA_DIM, False, True),
    "surjective_chain": LayerCase(_surjective_chain, 1, True, True),
    "spline_surjective_chain": LayerCase(_spline_surjective_chain, 1, True, True),
}

ALL_CASES = [(name, conditional) for name in LAYERS for conditional in (True, False)]
# Without a context a layer runs the same code with a narrower conditioner input, which the
# round trips cover for every layer. The checks that compile extra functions (Jacobians, vmap)
# run unconditional variants only for these layers, to keep the suite fast.
UNCONDITIONAL_CHECKED = {"maf", "maf_no_hidden", "permutation", "funnel", "bijective_chain"}
CHECK_CASES = [
    (name, conditional)
    for name, conditional in ALL_CASES
    if conditional or name in UNCONDITIONAL_CHECKED or name.endswith("chain")
]
BIJECTIVE_CASES = [case for case in ALL_CASES if not LAYERS[case[0]].surjective]
JACOBIAN_CASES = [case for case in CHECK_CASES if not LAYERS[case[0]].surjective]
CONTEXT_CASES = [name for name, case in LAYERS.items() if case.uses_context]
CHAIN_CASES = [case for case in ALL_CASES if case[0].endswith("chain")]
FUNNEL_NAMES = [
    name for name, case in LAYERS.items() if case.surjective and not name.endswith("chain")
]
# Latent coordinates equal to data coordinates: the conditioning part of a coupling layer and
# everything a Slice keeps.
COPIED_LATENTS = {"coupling": (0, 3), "coupling_spline": (1, 2), "slice": (0, 1)}
FUNNEL_CHECK_CASES = [case for case in CHECK_CASES if case[0] in FUNNEL_NAMES]


def _case_id(case):
    name, conditional = case
    return f"{name}-{'conditional' if conditional else 'unconditional'}"


def _normal(seed, shape):
    # NumPy draws avoid compiling a JAX random kernel for every parameter shape, which would
    # dominate the run time of this file.
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _perturbed(params, seed=3, noise=PARAM_NOISE):
    leaves, treedef = jax.tree.flatten(params)
    noisy = [
        leaf + noise * _normal((seed, index), leaf.shape) for index, leaf in enumerate(leaves)
    ]
    return jax.tree.unflatten(treedef, noisy)


def _data(conditional):
    y = _normal(1, (BATCH, DATA_DIM))
    x = _normal(2, (BATCH, CONTEXT_DIM)) if conditional else None
    return y, x


@dataclasses.dataclass(frozen=True)
class _Setup:
    params: dict
    inverse: Callable  # (params, y, x) -> (z, contribution)
    forward: Callable  # (params, rng, z, x) -> (y, forward value)
    inverse_eager: Callable
    forward_eager: Callable
    init: Callable  # (rng, y, x) -> initial params


@functools.cache
def _setup(name, conditional):
    """Build random parameters and jit one registry layer. The cache makes each compile once.

    The parameters are N(0, 0.3^2) draws in the shapes that `init` would create. Tracing init
    with eval_shape instead of compiling it saves about a second per case.
    """
    case = LAYERS[name]
    inverse = hk.transform(lambda y, x: case.factory().inverse_and_log_det(y, x))
    forward = hk.transform(lambda z, x: case.factory().forward_and_log_det(z, x))
    y, x = _data(conditional)
    shapes = jax.eval_shape(inverse.init, jax.random.PRNGKey(0), y, x)
    zeros = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)

    def inverse_eager(params, y, x):
        return inverse.apply(params, None, y, x)

    return _Setup(
        params=_perturbed(zeros),
        inverse=jax.jit(inverse_eager),
        forward=jax.jit(forward.apply),
        inverse_eager=inverse_eager,
        forward_eager=forward.apply,
        init=inverse.init,
    )


def _latent(name):
    return _normal(4, (BATCH, LAYERS[name].latent_dim))


@pytest.mark.parametrize("case", ALL_CASES, ids=_case_id)
def test_forward_then_inverse_round_trip(case):
    name, conditional = case
    value_atol, log_density_atol = _tolerances(name)
    setup = _setup(name, conditional)
    _, x = _data(conditional)
    z = _latent(name)

    y, forward_value = setup.forward(setup.params, jax.random.PRNGKey(5), z, x)
    z_again, contribution = setup.inverse(setup.params, y, x)

    assert y.shape == (BATCH, DATA_DIM)
    assert forward_value.shape == (BATCH,)
    np.testing.assert_allclose(z_again, z, atol=value_atol)
    # The forward value is minus the inverse contribution at the same data, for funnels too.
    np.testing.assert_allclose(contribution, -forward_value, atol=log_density_atol)


@pytest.mark.parametrize("case", BIJECTIVE_CASES, ids=_case_id)
def test_inverse_then_forward_round_trip(case):
    name, conditional = case
    value_atol, log_density_atol = _tolerances(name)
    setup = _setup(name, conditional)
    y, x = _data(conditional)

    z, log_det = setup.inverse(setup.params, y, x)
    y_again, forward_log_det = setup.forward(setup.params, None, z, x)

    np.testing.assert_allclose(y_again, y, atol=value_atol)
    np.testing.assert_allclose(forward_log_det, -log_det, atol=log_density_atol)


@pytest.mark.parametrize("case", JACOBIAN_CASES, ids=_case_id)
def test_bijection_log_det_matches_jacobian(case):
    name, conditional = case
    value_atol, _ = _tolerances(name)
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
        np.testing.assert_allclose(log_det[row], expected, atol=value_atol)


@pytest.mark.parametrize("case", FUNNEL_CHECK_CASES, ids=_case_id)
def test_funnel_log_det_matches_jacobian(case):
    """The contribution minus the decoder term is log|det dz/dy+| with y- held fixed."""
    name, conditional = case
    value_atol, _ = _tolerances(name)
    case = LAYERS[name]
    setup = _setup(name, conditional)
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
        np.testing.assert_allclose(log_det[row], expected, atol=value_atol)


@pytest.mark.parametrize("name", CONTEXT_CASES)
def test_context_changes_every_latent(name):
    setup = _setup(name, True)
    y, x = _data(True)
    other_x = x + 1.0

    z, contribution = setup.inverse(setup.params, y, x)
    other_z, other_contribution = setup.inverse(setup.params, y, other_x)

    # Perturbed weights of size 0.3 move every output by O(0.1) for a unit context change,
    # far above float32 rounding, so 1e-3 separates "depends on x" from "ignores x". Latent
    # coordinates that a layer copies from the data cannot depend on x.
    for dim in range(z.shape[-1]):
        if dim in COPIED_LATENTS.get(name, ()):
            np.testing.assert_array_equal(z[:, dim], other_z[:, dim])
            continue
        assert np.all(np.abs(z[:, dim] - other_z[:, dim]) > 1e-3), f"z[:, {dim}] ignores x"
    assert np.all(np.abs(contribution - other_contribution) > 1e-3)


# Eager execution compiles every primitive separately, so it runs on three cheaper cases that
# between them contain the affine and spline transforms and the coupling layer.
@pytest.mark.parametrize(
    "case",
    [("bijective_chain", True), ("funnel", True), ("coupling_spline", False)],
    ids=_case_id,
)
def test_jit_matches_eager(case):
    name, conditional = case
    value_atol, _ = _tolerances(name)
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
        np.testing.assert_allclose(jit_value, eager_value, atol=value_atol)
    for jit_value, eager_value in zip(jit_forward, eager_forward, strict=True):
        np.testing.assert_allclose(jit_value, eager_value, atol=value_atol)


@pytest.mark.parametrize("case", CHECK_CASES, ids=_case_id)
def test_vmap_over_rows_matches_batch(case):
    """Unbatched inputs of shape (data_dim,) under vmap give the batched results."""
    name, conditional = case
    value_atol, _ = _tolerances(name)
    setup = _setup(name, conditional)
    y, x = _data(conditional)

    batched_z, batched_contribution = setup.inverse(setup.params, y, x)
    row_inverse = jax.vmap(setup.inverse, in_axes=(None, 0, None if x is None else 0))
    mapped_z, mapped_contribution = row_inverse(setup.params, y, x)

    # Batched and per-row matrix products may use different float32 reduction orders.
    np.testing.assert_allclose(mapped_z, batched_z, atol=value_atol)
    np.testing.assert_allclose(mapped_contribution, batched_contribution, atol=value_atol)


@pytest.mark.parametrize("case", CHAIN_CASES, ids=_case_id)
def test_sample_log_prob_matches_log_prob(case):
    name, conditional = case
    _, log_density_atol = _tolerances(name)
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
    np.testing.assert_allclose(log_prob, sample_log_prob, atol=log_density_atol)


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

    initial_params = jax.jit(setup.init)(jax.random.PRNGKey(0), y, x)
    z, contribution = setup.inverse(initial_params, y, x)

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


@functools.cache
def _two_to_one_log_prob(name, conditional):
    """Return random parameters and the jitted log_prob of the registry funnel from 2 to 1."""
    factory = LAYERS[name].factory

    def log_prob(y, x):
        return TransformedDistribution(factory(2), latent_dim=1).log_prob(y, x)

    transformed = hk.transform(log_prob)
    x = _normal(9, (CONTEXT_DIM,)) if conditional else None
    shapes = jax.eval_shape(transformed.init, jax.random.PRNGKey(0), np.zeros((2, 2)), x)
    zeros = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)
    # Smaller noise than elsewhere keeps the spline densities free of narrow peaks, which the
    # grid below could not resolve.
    return _perturbed(zeros, seed=4, noise=0.15), jax.jit(transformed.apply), x


@pytest.mark.parametrize(
    "case", [(n, c) for n in FUNNEL_NAMES for c in (True, False)], ids=_case_id
)
def test_two_to_one_funnel_integrates_to_one(case):
    params, log_prob, x = _two_to_one_log_prob(*case)
    grid = np.linspace(-8.0, 8.0, 321, dtype=np.float32)
    spacing = float(grid[1] - grid[0])
    points = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)

    log_density = np.asarray(log_prob(params, None, points, x), dtype=np.float64)

    standard_normal = -0.5 * np.sum(points.astype(np.float64) ** 2, axis=-1) - np.log(2 * np.pi)
    # The density must be far from the initial standard normal, or the check is trivial.
    assert np.max(np.abs(log_density - standard_normal)) > 0.5
    density = np.exp(log_density).reshape(grid.size, grid.size)
    mass = np.trapezoid(np.trapezoid(density, dx=spacing, axis=1), dx=spacing)
    # For every case the mass measured on this grid and on [-12, 12]^2 at spacing 0.019 is
    # within 3e-5 of 1. A missing or sign-flipped log-det or decoder term moves it by > 0.1.
    assert abs(mass - 1.0) < 1e-3


def test_spline_layer_tails_are_finite():
    """Inputs at |y| = 1e4, far outside the spline bound, give finite values and gradients."""
    setup = _setup("coupling_spline", True)
    _, x = _data(True)
    y = np.tile(np.asarray([[1e4, -1e4, 0.5, -1e4]], np.float32), (BATCH, 1))

    def total(params, y):
        z, contribution = setup.inverse(params, y, x)
        return jnp.sum(z) + jnp.sum(contribution)

    value, (params_gradient, y_gradient) = jax.value_and_grad(total, argnums=(0, 1))(
        setup.params, y
    )

    assert np.isfinite(value)
    assert np.all(np.isfinite(y_gradient))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params_gradient))


@pytest.mark.parametrize(
    "make_funnel",
    [
        lambda decoder: MaskedAutoregressiveFunnel(2, decoder, data_dim=4),
        lambda decoder: MaskedCouplingFunnel(2, decoder, data_dim=4),
        lambda decoder: LULinearFunnel(2, decoder, data_dim=4),
        lambda decoder: Slice(2, decoder, data_dim=4),
    ],
    ids=["autoregressive", "coupling", "linear", "slice"],
)
def test_funnel_rejects_mismatched_decoder(make_funnel):
    with pytest.raises(ValueError, match="must have output_dim=2, got output_dim=3"):
        _build(lambda: make_funnel(GaussianDecoder(3)))


def test_coupling_rejects_invalid_mask():
    with pytest.raises(ValueError, match="at least one True"):
        _build(lambda: MaskedCoupling([True, True]))
    with pytest.raises(ValueError, match="1-D sequence of booleans"):
        _build(lambda: MaskedCoupling([1, 0]))


def test_random_permutation_is_fixed_by_seed():
    permutations = []
    _build(lambda: permutations.extend(random_permutation(10, seed=3) for _ in range(2)))
    first, second = (layer.permutation for layer in permutations)

    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, np.arange(10))
