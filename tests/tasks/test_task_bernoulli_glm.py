"""Tests for the Bernoulli GLM task with summary statistics against sbibm's definition."""

import importlib.util
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import bernoulli_glm as task_module
from ssnl.task import Task

# Moment checks allow 5 standard errors per entry. For an estimate that is close to Gaussian,
# one entry fails with probability about 6e-7. The keys are fixed, so the tests are
# deterministic.
NUM_STANDARD_ERRORS = 5.0
# Every simulation batch in this file has this size, so each jitted function compiles once.
NUM_SAMPLES = 10_000

# An offset of -0.5 and a smooth filter, giving spike probabilities between 0.02 and 0.89.
THETA = np.array([-0.5, 1.0, 0.8, 0.4, 0.0, -0.3, -0.5, -0.4, -0.2, 0.0])


def _sbibm_files() -> Path | None:
    """Return sbibm's folder of Bernoulli GLM files, or None when sbibm is not installed."""
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tasks" / "bernoulli_glm" / "files"


def _read_legacy_torch_storage(path: Path, num_values: int) -> np.ndarray:
    """Read the float32 tensor data stored at the end of a legacy PyTorch file, unpickling nothing.

    sbibm 1.1.0 ships these files in the format of `torch.save` before PyTorch 1.6, not as
    zip archives: pickled metadata, then for each tensor storage its element count as a
    little-endian int64 followed by its raw little-endian values. Each file here contains one
    storage, so the count and the values end the file.
    """
    raw = path.read_bytes()
    assert not zipfile.is_zipfile(path), f"{path} is a zip archive, not a legacy file"
    data_size = 4 * num_values
    assert len(raw) > data_size + 8
    count = int.from_bytes(raw[-data_size - 8 : -data_size], "little", signed=True)
    assert count == num_values, f"{path} stores {count} values, expected {num_values}"
    return np.frombuffer(raw[-data_size:], dtype="<f4")


def _precision_from_definition() -> np.ndarray:
    """Build sbibm's prior precision from its entries, in float64.

    F = D D + diag(sqrt(i / 9)) is lower triangular. D D for the first-difference matrix D
    has 1 on the diagonal, -2 below it and 1 two below it.
    """
    factor = np.zeros((9, 9))
    for i in range(9):
        factor[i, i] = 1.0 + np.sqrt(i / 9.0)
        if i >= 1:
            factor[i, i - 1] = -2.0
        if i >= 2:
            factor[i, i - 2] = 1.0
    precision = np.zeros((10, 10))
    precision[0, 0] = 0.5
    precision[1:, 1:] = factor.T @ factor
    return precision


def _summary_from_definition(spikes: np.ndarray, stimulus: np.ndarray) -> np.ndarray:
    """Compute sbibm's summary statistics of one spike train with NumPy.

    sbibm takes the spike count and the last 9 outputs of torch's conv1d, a cross-correlation,
    of the spike train padded with 8 zeros on each side with the stimulus as the kernel.
    `np.correlate` in "valid" mode computes the same cross-correlation.
    """
    padded = np.concatenate([np.zeros(8), spikes, np.zeros(8)])
    cross_correlation = np.correlate(padded, stimulus.astype(np.float64), mode="valid")
    return np.concatenate([[spikes.sum()], cross_correlation[-9:]])


@pytest.fixture(scope="module")
def task():
    return models.get_task("bernoulli_glm")


def test_task_dimensions(task):
    assert isinstance(task, Task)
    assert task.name == task_module.NAME == "bernoulli_glm"
    assert task.theta_dim == task_module.THETA_DIM == 10
    assert task.data_dim == task_module.DATA_DIM == 10
    assert task.observation.dtype == np.float32
    assert task.reference_sampler is None
    assert "bernoulli_glm" in models.list_tasks()


def test_stimulus_matches_generator():
    # sbibm's `_setup` draws the stimulus as RandomState(42).randn(100) cast to float32.
    # RandomState's stream is frozen across NumPy versions, so the values are exact.
    expected = np.random.RandomState(42).randn(100).astype(np.float32)

    np.testing.assert_array_equal(task_module.STIMULUS, expected)
    assert task_module.STIMULUS.dtype == np.float32
    assert not task_module.STIMULUS.flags.writeable


def test_design_matrix_structure():
    stimulus = task_module.STIMULUS
    expected = np.zeros((100, 10), dtype=np.float32)
    for t in range(100):
        expected[t, 0] = 1.0
        for delay in range(9):
            if t >= delay:
                expected[t, delay + 1] = stimulus[t - delay]

    np.testing.assert_array_equal(task_module.DESIGN_MATRIX, expected)
    np.testing.assert_array_equal(task_module.make_design_matrix(stimulus), expected)
    assert task_module.DESIGN_MATRIX.dtype == np.float32


@pytest.mark.skipif(_sbibm_files() is None, reason="sbibm is not installed")
def test_stimulus_and_design_matrix_match_sbibm_files():
    stimulus = _read_legacy_torch_storage(_sbibm_files() / "stimulus_I.pt", 100)
    design_matrix = _read_legacy_torch_storage(_sbibm_files() / "design_matrix.pt", 1000)

    np.testing.assert_array_equal(task_module.STIMULUS, stimulus)
    # sbibm builds the matrix with torch.cat, so its storage is contiguous in row-major order.
    np.testing.assert_array_equal(task_module.DESIGN_MATRIX, design_matrix.reshape(100, 10))


@pytest.mark.skipif(_sbibm_files() is None, reason="sbibm is not installed")
def test_summary_matches_sbibm_observations():
    # sbibm publishes each observation both as a raw spike train and as summary statistics.
    # Both sides sum in float32, in different orders. The stimulus sums reach 30 in size, where
    # one float32 rounding is up to 1e-6, and the largest difference over the 10 observations
    # is 6e-6.
    for number in range(1, 11):
        folder = _sbibm_files() / f"num_observation_{number}"
        spikes = np.loadtxt(folder / "observation_raw.csv", delimiter=",", skiprows=1)
        summary = np.loadtxt(folder / "observation.csv", delimiter=",", skiprows=1)

        result = task_module.summarize_spikes(spikes[None, :])[0]

        np.testing.assert_allclose(result, summary, rtol=0.0, atol=2e-5, err_msg=f"{number}")


def test_summary_matches_cross_correlation():
    spikes = task_module.simulate_spikes(
        jax.random.key(1), np.broadcast_to(THETA, (NUM_SAMPLES, 10))
    )
    spikes = np.asarray(spikes, dtype=np.float64)[:20]

    summary = np.asarray(task_module.summarize_spikes(spikes))

    for row in range(20):
        expected = _summary_from_definition(spikes[row], task_module.STIMULUS)
        # float32 sums of at most 100 terms below 2.7 in size, so 1e-4 bounds the rounding.
        np.testing.assert_allclose(summary[row], expected, rtol=0.0, atol=1e-4)


def test_prior_matches_definition():
    expected_precision = _precision_from_definition()

    np.testing.assert_allclose(
        task_module.prior_precision_matrix(), expected_precision, atol=1e-12
    )
    # The prior stores a float32 scale matrix. The covariance entries are at most about 3.3,
    # so float32 rounding leaves errors near 1e-7, and 1e-5 allows for that with margin.
    covariance = np.asarray(task_module.make_prior().covariance(), dtype=np.float64)
    expected_covariance = np.linalg.inv(expected_precision)
    np.testing.assert_allclose(covariance, expected_covariance, rtol=0.0, atol=1e-5)
    np.testing.assert_allclose(expected_covariance[0, 0], 2.0)


def test_prior_log_prob_matches_definition():
    precision = _precision_from_definition()
    theta = np.stack([np.zeros(10), THETA, np.linspace(-2.0, 2.0, 10)])
    _, log_det_precision = np.linalg.slogdet(precision)
    expected = (
        -0.5 * np.einsum("ni,ij,nj->n", theta, precision, theta)
        + 0.5 * log_det_precision
        - 5.0 * np.log(2.0 * np.pi)
    )

    result = task_module.make_prior().log_prob(jnp.asarray(theta, dtype=jnp.float32))

    # float32 evaluation of log densities between -13 and -5, so 1e-5 relative is about 100
    # float32 roundings.
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=0.0)


def test_prior_sample_moments():
    prior = task_module.make_prior()
    samples = np.asarray(prior.sample(seed=jax.random.key(2), sample_shape=(NUM_SAMPLES,)))
    covariance = np.linalg.inv(_precision_from_definition())

    assert tuple(prior.event_shape) == (10,)
    assert samples.dtype == np.float32
    samples = samples.astype(np.float64)
    standard_error = np.sqrt(np.diag(covariance) / NUM_SAMPLES)
    assert np.max(np.abs(samples.mean(axis=0)) / standard_error) < NUM_STANDARD_ERRORS
    # For Gaussian samples the covariance entry (a, b) has standard error
    # sqrt((S_aa S_bb + S_ab^2) / n).
    variances = np.diag(covariance)
    covariance_standard_error = np.sqrt(
        (np.outer(variances, variances) + covariance**2) / NUM_SAMPLES
    )
    covariance_error = np.abs(np.cov(samples, rowvar=False) - covariance) / (
        covariance_standard_error
    )
    assert np.max(covariance_error) < NUM_STANDARD_ERRORS


def test_simulation_moments():
    design_matrix = task_module.DESIGN_MATRIX.astype(np.float64)
    probability = 1.0 / (1.0 + np.exp(-design_matrix @ THETA))
    # The summary is X^T y with independent y_t ~ Bernoulli(z_t), so its mean is X^T z and
    # its covariance X^T diag(z (1 - z)) X. Entry 0 is the spike count, with mean sum(z).
    expected_mean = design_matrix.T @ probability
    expected_covariance = design_matrix.T @ (
        (probability * (1.0 - probability))[:, None] * design_matrix
    )
    batch = np.broadcast_to(THETA.astype(np.float32), (NUM_SAMPLES, 10))

    data = np.asarray(task_module.simulate(jax.random.key(3), batch), dtype=np.float64)

    np.testing.assert_allclose(expected_mean[0], probability.sum())
    standard_error = np.sqrt(np.diag(expected_covariance) / NUM_SAMPLES)
    mean_error = np.abs(data.mean(axis=0) - expected_mean) / standard_error
    assert np.max(mean_error) < NUM_STANDARD_ERRORS
    # The summary is a sum of 100 independent terms, so it is close to Gaussian and the
    # Gaussian standard error of the sample covariance applies.
    variances = np.diag(expected_covariance)
    covariance_standard_error = np.sqrt(
        (np.outer(variances, variances) + expected_covariance**2) / NUM_SAMPLES
    )
    covariance_error = np.abs(np.cov(data, rowvar=False) - expected_covariance) / (
        covariance_standard_error
    )
    assert np.max(covariance_error) < NUM_STANDARD_ERRORS


def test_simulator_shape_dtype_and_jit():
    theta = task_module.make_prior().sample(seed=jax.random.key(4), sample_shape=(NUM_SAMPLES,))

    data = task_module.simulate(jax.random.key(5), theta)
    jitted = jax.jit(task_module.simulate)(jax.random.key(5), theta)

    assert data.shape == (NUM_SAMPLES, 10)
    assert data.dtype == jnp.float32
    assert jitted.dtype == jnp.float32
    # The spike count is an integer in [0, 100].
    counts = np.asarray(data[:, 0])
    np.testing.assert_array_equal(counts, np.round(counts))
    assert np.all((counts >= 0) & (counts <= 100))
    np.testing.assert_allclose(jitted, data, rtol=1e-5, atol=1e-5)


def test_simulator_rejects_bad_theta_shape():
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 10\).*\(10,\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros(10))
    with pytest.raises(ValueError, match=r"\(3, 11\)"):
        task_module.simulate(jax.random.key(0), jnp.zeros((3, 11)))


def test_summarize_rejects_bad_spike_shape():
    with pytest.raises(ValueError, match=r"spikes must have shape \(n, 100\), got shape \(100,\)"):
        task_module.summarize_spikes(jnp.zeros(100))


def test_default_observation_reproducible(task):
    prior_key, simulator_key = jax.random.split(jax.random.key(0))
    theta = task.prior.sample(seed=prior_key, sample_shape=(1,))
    expected = task_module.simulate(simulator_key, theta)[0]

    np.testing.assert_array_equal(task.observation, np.asarray(expected))
    np.testing.assert_array_equal(task_module.true_parameters(), np.asarray(theta[0]))
