"""Tests for `models.sbibm_data`, the reader of sbibm's published observations.

Tests marked `requires_sbibm` read the installed sbibm distribution and are skipped without
it. The other tests build a fake sbibm folder under `tmp_path` and point the package lookup
at it, so the reader, its errors and the reference sampler are tested either way.
"""

import bz2
import importlib.machinery
import importlib.util

import jax
import numpy as np
import pytest

from models import gaussian_linear, sbibm_data

requires_sbibm = pytest.mark.skipif(
    not sbibm_data.is_available(),
    reason="sbibm is not installed; install its data files with "
    "`pip install --no-deps sbibm==1.1.0`",
)

# (theta_dim, data_dim) of each task with sbibm data, from the `dim_parameters` and `dim_data`
# arguments in sbibm 1.1.0's task definitions.
DIMENSIONS = {
    "bernoulli_glm": (10, 10),
    "bernoulli_glm_raw": (10, 100),
    "gaussian_linear": (10, 10),
    "gaussian_linear_uniform": (10, 10),
    "gaussian_mixture": (2, 2),
    "lotka_volterra": (4, 20),
    "sir": (2, 10),
    "slcp": (5, 8),
    "slcp_distractors": (5, 100),
    "two_moons": (2, 2),
}

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry exceeds that with probability about 6e-7, so a failure points to a real mismatch.
NUM_STANDARD_ERRORS = 5.0

_real_find_spec = importlib.util.find_spec


def _patch_sbibm_location(monkeypatch, package_directory):
    """Make the lookup of "sbibm" return `package_directory`, or nothing when it is None."""

    def find_spec(name, *args, **kwargs):
        if name != "sbibm":
            return _real_find_spec(name, *args, **kwargs)
        if package_directory is None:
            return None
        spec = importlib.machinery.ModuleSpec("sbibm", None, is_package=True)
        spec.submodule_search_locations = [str(package_directory)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def _write_fake_observation(root, folder="gaussian_linear", number=1, files=None):
    """Write the files of one observation into a fake sbibm package under `root`."""
    directory = root / "sbibm" / "tasks" / folder / "files" / f"num_observation_{number}"
    directory.mkdir(parents=True)
    for name, text in (files or {}).items():
        if name.endswith(".bz2"):
            (directory / name).write_bytes(bz2.compress(text.encode()))
        else:
            (directory / name).write_text(text)
    return root / "sbibm", directory


def _csv_text(values):
    values = np.atleast_2d(values)
    header = ",".join(f"column_{i + 1}" for i in range(values.shape[1]))
    rows = [",".join(repr(float(value)) for value in row) for row in values]
    return "\n".join([header, *rows]) + "\n"


def test_task_names_match_sbibm():
    assert set(sbibm_data.TASK_NAMES) == set(DIMENSIONS)
    assert list(sbibm_data.TASK_NAMES) == sorted(DIMENSIONS)


@requires_sbibm
@pytest.mark.parametrize("task_name", sorted(DIMENSIONS))
def test_loaders_shapes_and_dtype(task_name):
    theta_dim, data_dim = DIMENSIONS[task_name]

    observation = sbibm_data.load_observation(task_name, 1)
    samples = sbibm_data.load_reference_samples(task_name, 1)
    true_parameters = sbibm_data.load_true_parameters(task_name, 1)

    assert observation.shape == (data_dim,)
    assert samples.shape == (10_000, theta_dim)
    assert true_parameters.shape == (theta_dim,)
    for array in (observation, samples, true_parameters):
        assert array.dtype == np.float32


@requires_sbibm
def test_shared_folders_reuse_samples():
    # slcp_distractors and bernoulli_glm_raw read the folder of slcp and bernoulli_glm.
    for variant, base in (("slcp_distractors", "slcp"), ("bernoulli_glm_raw", "bernoulli_glm")):
        np.testing.assert_array_equal(
            sbibm_data.load_reference_samples(variant, 4),
            sbibm_data.load_reference_samples(base, 4),
        )
        np.testing.assert_array_equal(
            sbibm_data.load_true_parameters(variant, 4), sbibm_data.load_true_parameters(base, 4)
        )


@requires_sbibm
def test_gaussian_linear_reference_matches_exact():
    observation = sbibm_data.load_observation("gaussian_linear", 1)
    samples = sbibm_data.load_reference_samples("gaussian_linear", 1).astype(np.float64)
    posterior = gaussian_linear.reference_posterior(observation)
    expected_mean = np.asarray(posterior.mean(), dtype=np.float64)
    expected_covariance = np.asarray(posterior.covariance(), dtype=np.float64)
    num_samples = samples.shape[0]

    mean_error = samples.mean(axis=0) - expected_mean
    mean_standard_error = np.sqrt(np.diag(expected_covariance) / num_samples)
    assert np.max(np.abs(mean_error) / mean_standard_error) < NUM_STANDARD_ERRORS

    # For Gaussian samples the covariance entry (a, b) has standard error
    # sqrt((S_aa S_bb + S_ab^2) / n) to first order in 1 / n.
    variances = np.diag(expected_covariance)
    covariance_standard_error = np.sqrt(
        (np.outer(variances, variances) + expected_covariance**2) / num_samples
    )
    covariance_error = np.cov(samples, rowvar=False) - expected_covariance
    assert np.max(np.abs(covariance_error) / covariance_standard_error) < NUM_STANDARD_ERRORS


@requires_sbibm
def test_observations_differ_by_number():
    first = sbibm_data.load_observation("two_moons", 1)
    second = sbibm_data.load_observation("two_moons", 2)

    assert not np.array_equal(first, second)


def test_fake_package_values_read(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    observation = rng.normal(size=10).astype(np.float32)
    samples = rng.normal(size=(10_000, 10)).astype(np.float32)
    true_parameters = rng.normal(size=10).astype(np.float32)
    package, _ = _write_fake_observation(
        tmp_path,
        number=7,
        files={
            "observation.csv": _csv_text(observation),
            "reference_posterior_samples.csv.bz2": _csv_text(samples),
            "true_parameters.csv": _csv_text(true_parameters),
        },
    )
    _patch_sbibm_location(monkeypatch, package)

    assert sbibm_data.is_available()
    np.testing.assert_array_equal(sbibm_data.load_observation("gaussian_linear", 7), observation)
    np.testing.assert_array_equal(sbibm_data.load_reference_samples("gaussian_linear", 7), samples)
    np.testing.assert_array_equal(
        sbibm_data.load_true_parameters("gaussian_linear", 7), true_parameters
    )


def test_variant_observation_file_read(monkeypatch, tmp_path):
    raw = np.arange(100, dtype=np.float32) % 2
    package, _ = _write_fake_observation(
        tmp_path,
        folder="bernoulli_glm",
        files={"observation.csv": _csv_text(np.zeros(10)), "observation_raw.csv": _csv_text(raw)},
    )
    _patch_sbibm_location(monkeypatch, package)

    np.testing.assert_array_equal(sbibm_data.load_observation("bernoulli_glm_raw", 1), raw)


def test_missing_sbibm_error(monkeypatch):
    _patch_sbibm_location(monkeypatch, None)

    assert not sbibm_data.is_available()
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps sbibm==1.1.0"):
        sbibm_data.load_observation("slcp", 1)
    with pytest.raises(ModuleNotFoundError, match="'slcp'"):
        sbibm_data.load_reference_samples("slcp", 1)


@pytest.mark.parametrize("number", [0, 11, -1])
def test_number_out_of_range(number):
    with pytest.raises(ValueError, match=f"Observation number {number} is outside 1 to 10"):
        sbibm_data.load_observation("slcp", number)


@pytest.mark.parametrize("number", [1.0, "1", True, None])
def test_number_not_integer(number):
    with pytest.raises(TypeError, match="must be an integer from 1 to 10"):
        sbibm_data.load_observation("slcp", number)


def test_numpy_integer_number_accepted():
    assert sbibm_data.check_observation_number(np.int64(10)) == 10


def test_unknown_task_error():
    with pytest.raises(ValueError, match="no observations or reference samples for task 'slcp_x'"):
        sbibm_data.load_observation("slcp_x", 1)
    with pytest.raises(ValueError, match="Tasks with sbibm data: bernoulli_glm"):
        sbibm_data.load_true_parameters("slcp_x", 1)


def test_missing_file_error(monkeypatch, tmp_path):
    package, directory = _write_fake_observation(
        tmp_path, files={"observation.csv": _csv_text(np.zeros(10))}
    )
    _patch_sbibm_location(monkeypatch, package)

    with pytest.raises(FileNotFoundError, match="true_parameters.csv is missing") as error:
        sbibm_data.load_true_parameters("gaussian_linear", 1)
    assert str(directory) in str(error.value)
    assert "pip install --force-reinstall --no-deps sbibm==1.1.0" in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1.0,2.0\n", r"expected 1 rows of 10 values after the header, got shape \(1, 2\)"),
        ("a,b\n1.0,abc\n", "could not be read as a CSV file"),
        (_csv_text(np.r_[np.zeros(9), np.nan]), "contains NaN or infinite values"),
        ("header only\n", "no data rows after the header"),
    ],
)
def test_malformed_file_error(monkeypatch, tmp_path, text, message):
    package, _ = _write_fake_observation(tmp_path, files={"observation.csv": text})
    _patch_sbibm_location(monkeypatch, package)

    with pytest.raises(ValueError, match=message):
        sbibm_data.load_observation("gaussian_linear", 1)


def test_corrupt_archive_error(monkeypatch, tmp_path):
    package, directory = _write_fake_observation(tmp_path)
    (directory / "reference_posterior_samples.csv.bz2").write_bytes(b"not a bz2 stream")
    _patch_sbibm_location(monkeypatch, package)

    with pytest.raises(ValueError, match="reference_posterior_samples.csv.bz2 is malformed"):
        sbibm_data.load_reference_samples("gaussian_linear", 1)


def test_reference_sampler_without_replacement():
    # Row i of the stored samples is (i, -i), so a drawn row identifies its index.
    stored = np.stack([np.arange(10_000), -np.arange(10_000)], axis=1).astype(np.float32)
    sampler = sbibm_data.make_reference_sampler(stored)

    draws = np.asarray(sampler(jax.random.key(0), 3000))
    everything = np.asarray(sampler(jax.random.key(1), 10_000))

    assert draws.shape == (3000, 2)
    assert draws.dtype == np.float32
    np.testing.assert_array_equal(draws[:, 1], -draws[:, 0])
    assert len(np.unique(draws[:, 0])) == 3000
    np.testing.assert_array_equal(np.sort(everything[:, 0]), stored[:, 0])


def test_reference_sampler_fixed_by_key():
    stored = np.arange(20_000, dtype=np.float32).reshape(10_000, 2)
    sampler = sbibm_data.make_reference_sampler(stored)

    first = np.asarray(sampler(jax.random.key(5), 100))
    again = np.asarray(sampler(jax.random.key(5), 100))
    other = np.asarray(sampler(jax.random.key(6), 100))

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("num_samples", [10_001, 0])
def test_reference_sampler_count_limits(num_samples):
    sampler = sbibm_data.make_reference_sampler(np.zeros((10_000, 3), dtype=np.float32))

    with pytest.raises(ValueError, match="num_samples must be from 1 to 10000"):
        sampler(jax.random.key(0), num_samples)


def test_reference_sampler_rejects_empty():
    with pytest.raises(ValueError, match="at least one row"):
        sbibm_data.make_reference_sampler(np.zeros((0, 3), dtype=np.float32))
