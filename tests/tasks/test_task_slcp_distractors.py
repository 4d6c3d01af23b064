"""Tests for the SLCP tasks with distractors: `slcp_distractors` and `slcp_distractors_1000`."""

import struct
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy import stats

import models
from models import sbibm_data, slcp, slcp_distractors, slcp_distractors_1000

requires_sbibm = pytest.mark.skipif(
    not sbibm_data.is_available(),
    reason="sbibm is not installed; install its data files with "
    "`pip install --no-deps sbibm==1.1.0`",
)

# Checks of means, covariances and CDF values allow 5 standard errors per entry. For an
# estimate that is close to Gaussian, one entry exceeds that with probability about 6e-7, so
# the chance that any of the few hundred entries checked here fails by chance is below 1e-3.
# The keys are fixed, so the results are deterministic.
NUM_STANDARD_ERRORS = 5.0
NUM_SIMULATIONS = 20_000
THETA = np.array([[0.5, -1.0, 1.2, -0.8, 0.6]], dtype=np.float32)

# Output positions of SLCP's 8 values in sbibm's `slcp_distractors` data, in SLCP's order,
# read from sbibm 1.1.0's `slcp/files/permutation_idx.torch`.
SBIBM_INFORMATIVE_POSITIONS = [22, 33, 23, 67, 42, 21, 16, 90]

# Summaries of sbibm 1.1.0's stored noise model, computed from the raw float64 storages of
# `slcp/files/gmm.torch`. They check the rebuilt values where sbibm is not installed.
SBIBM_LOC_SUM = 1203.9333910573314
SBIBM_LOC_FIRST = 7.45071229516849
SBIBM_LOC_LAST = -3.1217528590880956
SBIBM_SCALE_TRIL_SUM = 9962.57742394914
SBIBM_SCALE_TRIL_SQUARED_SUM = 889126.7861284262
SBIBM_SCALE_TRIL_TRACE_SUM = 8947.59510886258


def _simulate(module, seed):
    theta = np.repeat(THETA, NUM_SIMULATIONS, axis=0)
    return np.asarray(jax.jit(module.simulate)(jax.random.key(seed), theta), dtype=np.float64)


@pytest.fixture(scope="module")
def distractors_100_data():
    return _simulate(slcp_distractors, 11)


@pytest.fixture(scope="module")
def distractors_1000_data():
    return _simulate(slcp_distractors_1000, 12)


def _mixture_cdf(points, loc, scale, df):
    """CDF of an equal-weight mixture of Student-t laws with locations and scales `(K,)`."""
    standardized = (points[:, None] - loc[None, :]) / scale[None, :]
    return stats.t.cdf(standardized, df).mean(axis=1)


def _max_cdf_error(values, loc, scale, df):
    """Return the largest |empirical CDF - exact CDF| in units of its standard error.

    `values` has shape `(n,)` and `loc`, `scale` shape `(K,)`. The CDF is compared at the
    quartiles of the component locations, where it is far from 0 and 1.
    """
    points = np.quantile(loc, [0.25, 0.5, 0.75])
    exact = _mixture_cdf(points, loc, scale, df)
    empirical = (values[:, None] <= points[None, :]).mean(axis=0)
    standard_error = np.sqrt(exact * (1 - exact) / values.shape[0])
    return np.max(np.abs(empirical - exact) / standard_error)


def _check_slcp_law(informative):
    """Compare the mean and covariance of SLCP values at `THETA` with the exact ones."""
    mean, covariance = (
        np.asarray(value, dtype=np.float64) for value in slcp.likelihood_parameters(THETA)
    )
    expected_mean = np.tile(mean[0], slcp.NUM_DRAWS)
    expected_covariance = np.kron(np.eye(slcp.NUM_DRAWS), covariance[0])
    num_samples = informative.shape[0]

    mean_standard_error = np.sqrt(np.diag(expected_covariance) / num_samples)
    mean_error = np.abs(informative.mean(axis=0) - expected_mean) / mean_standard_error
    assert np.max(mean_error) < NUM_STANDARD_ERRORS

    # For Gaussian data the covariance entry (a, b) has standard error
    # sqrt((S_aa S_bb + S_ab^2) / n) to first order in 1 / n.
    variances = np.diag(expected_covariance)
    covariance_standard_error = np.sqrt(
        (np.outer(variances, variances) + expected_covariance**2) / num_samples
    )
    covariance_error = np.cov(informative, rowvar=False) - expected_covariance
    assert np.max(np.abs(covariance_error) / covariance_standard_error) < NUM_STANDARD_ERRORS


def _noise_columns(module, data):
    positions = np.argsort(module.noise_parameters().permutation)[slcp.DATA_DIM :]
    return data[:, positions]


def _read_legacy_storage(path, numel, dtype, offset):
    """Read one raw storage of a file written by PyTorch's legacy (pre-1.6) `torch.save`.

    That format writes each storage as its element count (int64, little-endian) followed by
    the raw elements. `offset` is the byte position of the count. Nothing is unpickled.
    """
    content = Path(path).read_bytes()
    (count,) = struct.unpack_from("<q", content, offset)
    assert count == numel, f"{path}: storage at byte {offset} has {count} elements"
    start = offset + 8
    size = numel * np.dtype(dtype).itemsize
    assert start + size <= len(content), f"{path}: storage at byte {offset} is truncated"
    return np.frombuffer(content[start : start + size], dtype=dtype)


def _sbibm_slcp_files():
    package = sbibm_data.observation_directory("slcp", 1).parent
    return package / "gmm.torch", package / "permutation_idx.torch"


def test_tasks_registered():
    for name, data_dim in (("slcp_distractors", 100), ("slcp_distractors_1000", 1000)):
        task = models.get_task(name)

        assert name in models.list_tasks()
        assert task.name == name
        assert task.theta_dim == 5
        assert task.observation.shape == (data_dim,)
        assert task.observation.dtype == np.float32
        assert task.reference_sampler is None


def test_noise_parameters_shapes():
    parameters = slcp_distractors.noise_parameters()

    assert parameters.loc.shape == (20, 92)
    assert parameters.scale_tril.shape == (20, 92, 92)
    assert np.all(np.triu(parameters.scale_tril, k=1) == 0)
    np.testing.assert_array_equal(np.sort(parameters.permutation), np.arange(100))
    assert not parameters.loc.flags.writeable


def test_noise_parameters_match_sbibm_summaries():
    parameters = slcp_distractors.noise_parameters()
    scale_tril = parameters.scale_tril
    # The rebuilt values may differ from sbibm's in the last bits of log and exp, so sums are
    # compared with rtol 1e-12.
    tolerance = {"rtol": 1e-12, "atol": 0}

    np.testing.assert_allclose(parameters.loc.sum(), SBIBM_LOC_SUM, **tolerance)
    np.testing.assert_allclose(parameters.loc[0, 0], SBIBM_LOC_FIRST, **tolerance)
    np.testing.assert_allclose(parameters.loc[-1, -1], SBIBM_LOC_LAST, **tolerance)
    np.testing.assert_allclose(scale_tril.sum(), SBIBM_SCALE_TRIL_SUM, **tolerance)
    np.testing.assert_allclose((scale_tril**2).sum(), SBIBM_SCALE_TRIL_SQUARED_SUM, **tolerance)
    np.testing.assert_allclose(
        np.trace(scale_tril, axis1=1, axis2=2).sum(), SBIBM_SCALE_TRIL_TRACE_SUM, **tolerance
    )
    np.testing.assert_array_equal(
        slcp_distractors.informative_data(np.arange(100)), SBIBM_INFORMATIVE_POSITIONS
    )


@requires_sbibm
def test_noise_parameters_equal_sbibm_storages():
    gmm_path, permutation_path = _sbibm_slcp_files()
    parameters = slcp_distractors.noise_parameters()
    gmm = gmm_path.read_bytes()

    # In sbibm 1.1.0's gmm.torch the storages follow the pickled list of storage keys, which
    # ends with the bytes "e.". The first storage is `loc`, 20 x 92 float64, and the last is
    # the scale factor, 20 x 92 x 92 float64, which ends the file.
    loc_numel = 20 * 92
    loc_marker = b"e." + struct.pack("<q", loc_numel)
    assert gmm.count(loc_marker) == 1
    loc = _read_legacy_storage(gmm_path, loc_numel, "<f8", gmm.index(loc_marker) + 2)
    tril_numel = 20 * 92 * 92
    scale_tril = _read_legacy_storage(gmm_path, tril_numel, "<f8", len(gmm) - 8 * tril_numel - 8)
    # The single storage of permutation_idx.torch, 100 int64 values, ends that file.
    permutation = _read_legacy_storage(
        permutation_path, 100, "<i8", permutation_path.stat().st_size - 8 * 100 - 8
    )

    # Entries are at most about 70 in size. A different rounding of log or exp in the last
    # bit moves them by at most about 1.4e-14, which atol 1e-13 allows.
    np.testing.assert_allclose(parameters.loc, loc.reshape(20, 92), rtol=0, atol=1e-13)
    np.testing.assert_allclose(
        parameters.scale_tril, scale_tril.reshape(20, 92, 92), rtol=0, atol=1e-13
    )
    np.testing.assert_array_equal(parameters.permutation, permutation)


@requires_sbibm
def test_sbibm_distractor_observations():
    # sbibm built observation_distractors.csv by joining observation.csv with a noise draw and
    # applying the permutation, so the informative positions contain the SLCP observation.
    for number in range(1, 11):
        with_distractors = sbibm_data.load_observation("slcp_distractors", number)

        np.testing.assert_array_equal(
            slcp_distractors.informative_data(with_distractors),
            sbibm_data.load_observation("slcp", number),
        )


@requires_sbibm
def test_sbibm_task_matches_slcp():
    task = models.get_task("slcp_distractors", observation=1)
    stored = sbibm_data.load_reference_samples("slcp", 1)

    np.testing.assert_array_equal(
        task.observation, sbibm_data.load_observation("slcp_distractors", 1)
    )
    draws = np.asarray(task.reference_sampler(jax.random.key(0), 10_000))
    np.testing.assert_array_equal(np.sort(draws, axis=0), np.sort(stored, axis=0))


@pytest.mark.parametrize("module", [slcp_distractors, slcp_distractors_1000])
def test_simulator_shape_and_jit(module):
    theta = np.repeat(THETA, 4, axis=0)
    key = jax.random.key(0)

    data = module.simulate(key, theta)
    jitted = jax.jit(module.simulate)(key, theta)

    assert data.shape == (4, module.DATA_DIM)
    assert data.dtype == np.float32
    assert np.all(np.isfinite(data))
    np.testing.assert_allclose(jitted, data, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 5\)"):
        module.simulate(key, theta[:, :4])


@pytest.mark.parametrize("module", [slcp_distractors, slcp_distractors_1000])
def test_distractors_ignore_theta(module):
    key = jax.random.key(3)
    theta = np.array([[0.5, -1.0, 1.2, -0.8, 0.6], [-2.0, 2.5, -0.3, 1.9, -1.4]], np.float32)

    first = np.asarray(module.simulate(key, theta[:1]))
    second = np.asarray(module.simulate(key, theta[1:]))

    np.testing.assert_array_equal(_noise_columns(module, first), _noise_columns(module, second))
    assert not np.array_equal(module.informative_data(first), module.informative_data(second))


def test_informative_law_100(distractors_100_data):
    _check_slcp_law(slcp_distractors.informative_data(distractors_100_data))


def test_informative_law_1000(distractors_1000_data):
    _check_slcp_law(slcp_distractors_1000.informative_data(distractors_1000_data))


def test_distractor_marginals_100(distractors_100_data):
    parameters = slcp_distractors.noise_parameters()
    noise = _noise_columns(slcp_distractors, distractors_100_data)
    # The marginal of dimension i in component k is Student-t with location loc[k, i] and
    # scale sqrt((L_k L_k^T)_ii), the norm of row i of L_k.
    scales = np.linalg.norm(parameters.scale_tril, axis=2)

    errors = [
        _max_cdf_error(noise[:, i], parameters.loc[:, i], scales[:, i], 2.0)
        for i in range(slcp_distractors.NUM_DISTRACTORS)
    ]

    assert max(errors) < NUM_STANDARD_ERRORS


def test_distractor_projections_100(distractors_100_data):
    # Projections on fixed directions a test the correlations. In component k, a^T x is
    # Student-t with location a^T loc[k] and scale |L_k^T a|.
    parameters = slcp_distractors.noise_parameters()
    noise = _noise_columns(slcp_distractors, distractors_100_data)
    directions = np.random.default_rng(0).normal(size=(4, slcp_distractors.NUM_DISTRACTORS))

    for direction in directions:
        loc = parameters.loc @ direction
        scale = np.linalg.norm(np.einsum("kij,i->kj", parameters.scale_tril, direction), axis=1)

        assert _max_cdf_error(noise @ direction, loc, scale, 2.0) < NUM_STANDARD_ERRORS


def test_distractor_marginals_1000(distractors_1000_data):
    parameters = slcp_distractors_1000.noise_parameters()
    noise = _noise_columns(slcp_distractors_1000, distractors_1000_data)
    # Component k has scale matrix D_k (F F^T + I) D_k with D_k = diag(scale[k]), so the
    # marginal scale of dimension i is scale[k, i] sqrt(|F_i|^2 + 1).
    shared = np.sqrt(np.sum(parameters.factor**2, axis=1) + 1)
    scales = parameters.scale * shared[None, :]

    errors = [
        _max_cdf_error(noise[:, i], parameters.loc[:, i], scales[:, i], 2.0)
        for i in range(slcp_distractors_1000.NUM_DISTRACTORS)
    ]

    assert max(errors) < NUM_STANDARD_ERRORS


def test_distractor_projections_1000(distractors_1000_data):
    parameters = slcp_distractors_1000.noise_parameters()
    noise = _noise_columns(slcp_distractors_1000, distractors_1000_data)
    directions = np.random.default_rng(1).normal(size=(4, slcp_distractors_1000.NUM_DISTRACTORS))

    for direction in directions:
        loc = parameters.loc @ direction
        # a^T x in component k has variance a^T D_k (F F^T + I) D_k a under the scale matrix.
        scaled = parameters.scale * direction[None, :]
        variance = np.sum((scaled @ parameters.factor) ** 2, axis=1) + np.sum(scaled**2, axis=1)

        assert _max_cdf_error(noise @ direction, loc, np.sqrt(variance), 2.0) < NUM_STANDARD_ERRORS


def test_noise_parameters_1000_deterministic():
    parameters = slcp_distractors_1000.noise_parameters()
    rng = np.random.RandomState(1000)

    assert parameters.loc.shape == (20, 992)
    assert parameters.scale.shape == (20, 992)
    assert parameters.factor.shape == (992, 16)
    np.testing.assert_array_equal(parameters.loc, 15 * rng.normal(size=(20, 992)))
    np.testing.assert_array_equal(np.sort(parameters.permutation), np.arange(1000))
    assert np.all(parameters.scale > 0)


def test_default_observation_seeded():
    first = slcp_distractors_1000.make_task(observation_seed=4)
    again = slcp_distractors_1000.make_task(observation_seed=4)
    theta = slcp_distractors_1000.true_parameters(4)

    np.testing.assert_array_equal(first.observation, again.observation)
    assert theta.shape == (5,)
    assert np.all(np.abs(theta) <= 3)
