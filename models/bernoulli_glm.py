"""Bernoulli GLM benchmark task with summary statistics, as defined in sbibm.

A neuron receives a fixed white-noise stimulus I_0, ..., I_99 for 100 time bins and spikes in bin
t with probability sigmoid(psi_t), independently across bins. Its log-odds are

    psi = X theta,  X[t, 0] = 1,  X[t, j + 1] = I_{t - j} for t >= j and 0 otherwise,

for j = 0, ..., 8. So theta_0 is an offset and theta_1, ..., theta_9 form a linear filter over
the current and the 8 previous stimulus values. The simulation returns the summary statistics
X^T y of the spike train y: the spike count followed by the 9 spike-triggered stimulus sums
sum_{t >= j} y_t I_{t - j}. These are sufficient statistics for theta.

The prior is N(0, B^{-1}), given by its precision matrix B = blockdiag(0.5, F^T F). The offset
has variance 2. For the filter, F = D D + diag(sqrt(i / 9)) for i = 0, ..., 8, where D is the
9 x 9 first-difference matrix (ones on the diagonal, -1 below it). The term D D penalizes
second differences, so the prior favours smooth filters. The resulting prior variances of the
9 filter taps are 1.0, 2.8, 3.3, 2.4, 1.5, 1.2, 1.1, 1.0 and 0.8.

The definition was checked against `sbibm/tasks/bernoulli_glm/task.py` in sbibm 1.1.0
(github.com/sbi-benchmark/sbibm), which defines both this task and `bernoulli_glm_raw`:

- sbibm writes the diagonal term as `torch.diag(1.0 * torch.arange(M) / M) ** 0.5`, which takes
  the square root of the diagonal matrix entry by entry, so the term is sqrt(i / 9), not i / 9.
- sbibm computes the 9 stimulus sums with `torch.nn.functional.conv1d` (a cross-correlation)
  of the spike train and the stimulus with 8 zeros of padding and keeps the last 9 outputs.
  Output j of those is sum_{t >= j} y_t I_{t - j} = (X^T y)_{j + 1}.
- The stimulus is `numpy.random.RandomState(42).randn(100)` cast to float32. sbibm stores it
  and X as PyTorch files. This package stores the stimulus values in
  `models/data/bernoulli_glm_stimulus.csv` and rebuilds X from them as sbibm's `_setup` does.

The task has no reference sampler, because the posterior has no closed form. sbibm's reference
samples come from a Polya-Gamma Gibbs sampler, a Markov chain Monte Carlo method. The default
observation is drawn with JAX's random number generator, so it differs from the observations
published with sbibm.
"""

from __future__ import annotations

import importlib.resources

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models._observation import check_theta, draw_observation
from ssnl.task import Task

__all__ = [
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "DESIGN_MATRIX",
    "FILTER_LENGTH",
    "NAME",
    "NUM_TIME_BINS",
    "OFFSET_PRIOR_PRECISION",
    "STIMULUS",
    "STIMULUS_RESOURCE",
    "THETA_DIM",
    "load_stimulus",
    "make_design_matrix",
    "make_prior",
    "make_task",
    "prior_precision_matrix",
    "simulate",
    "simulate_spikes",
    "summarize_spikes",
    "true_parameters",
]

NAME = "bernoulli_glm"
NUM_TIME_BINS = 100
FILTER_LENGTH = 9
THETA_DIM = 1 + FILTER_LENGTH
DATA_DIM = THETA_DIM
OFFSET_PRIOR_PRECISION = 0.5

STIMULUS_RESOURCE = "data/bernoulli_glm_stimulus.csv"
"""Path of the stimulus file inside the `models` package."""

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("bernoulli_glm")` draws its observation."""


def load_stimulus() -> np.ndarray:
    """Read the white-noise stimulus from the package data, shape `(100,)`, float32.

    Raises:
        ValueError: If the file does not contain 100 finite values.
    """
    resource = importlib.resources.files("models").joinpath(STIMULUS_RESOURCE)
    with resource.open("r", encoding="utf-8") as stimulus_file:
        stimulus = np.loadtxt(stimulus_file, dtype=np.float32, comments="#", ndmin=1)
    if stimulus.shape != (NUM_TIME_BINS,) or not np.all(np.isfinite(stimulus)):
        raise ValueError(
            f"{STIMULUS_RESOURCE} in the models package must contain {NUM_TIME_BINS} finite "
            f"values, got shape {stimulus.shape}. Reinstall the package to restore the file."
        )
    return stimulus


def make_design_matrix(stimulus: np.ndarray) -> np.ndarray:
    """Build the design matrix X from a stimulus, shape `(len(stimulus), 10)`, float32.

    Column 0 is all ones, and column j + 1 is the stimulus delayed by j bins, with zeros in the
    first j rows.
    """
    stimulus = np.asarray(stimulus, dtype=np.float32)
    num_bins = stimulus.shape[0]
    design_matrix = np.zeros((num_bins, THETA_DIM), dtype=np.float32)
    design_matrix[:, 0] = 1.0
    for delay in range(FILTER_LENGTH):
        design_matrix[delay:, delay + 1] = stimulus[: num_bins - delay]
    return design_matrix


STIMULUS = load_stimulus()
"""White-noise stimulus I, shape `(100,)`, float32, read-only."""
STIMULUS.flags.writeable = False

DESIGN_MATRIX = make_design_matrix(STIMULUS)
"""Design matrix X built from `STIMULUS`, shape `(100, 10)`, float32, read-only."""
DESIGN_MATRIX.flags.writeable = False


def _filter_precision_factor() -> np.ndarray:
    """Build the lower triangular factor F of the filter precision F^T F, float64."""
    first_difference = np.eye(FILTER_LENGTH) - np.eye(FILTER_LENGTH, k=-1)
    lag_penalty = np.diag(np.sqrt(np.arange(FILTER_LENGTH) / FILTER_LENGTH))
    return first_difference @ first_difference + lag_penalty


def prior_precision_matrix() -> np.ndarray:
    """Return the prior precision matrix B = blockdiag(0.5, F^T F), shape `(10, 10)`, float64."""
    factor = _filter_precision_factor()
    precision = np.zeros((THETA_DIM, THETA_DIM))
    precision[0, 0] = OFFSET_PRIOR_PRECISION
    precision[1:, 1:] = factor.T @ factor
    return precision


def make_prior() -> distrax.Distribution:
    """Build the prior N(0, B^{-1}) over theta, event shape `(10,)`.

    F is lower triangular, so F^{-1} is a lower triangular square root of the filter
    covariance (F^T F)^{-1} = F^{-1} F^{-T}, and no Cholesky factorization is needed.
    """
    scale = np.zeros((THETA_DIM, THETA_DIM))
    scale[0, 0] = 1.0 / np.sqrt(OFFSET_PRIOR_PRECISION)
    scale[1:, 1:] = np.tril(np.linalg.inv(_filter_precision_factor()))
    return distrax.MultivariateNormalTri(
        loc=jnp.zeros(THETA_DIM, dtype=jnp.float32),
        scale_tri=jnp.asarray(scale, dtype=jnp.float32),
    )


def simulate_spikes(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate a spike train of 100 bins for each row of `theta`.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(num_simulations, 10)`.

    Returns:
        Float32 spike indicators (0 or 1), shape `(num_simulations, 100)`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 10)`.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)

    # HIGHEST keeps the products in full float32 on accelerators that default to lower
    # precision for float32 matrix products.
    log_odds = jnp.matmul(theta, DESIGN_MATRIX.T, precision=jax.lax.Precision.HIGHEST)
    spike_probability = jax.nn.sigmoid(log_odds)
    uniform = jax.random.uniform(key, log_odds.shape, dtype=jnp.float32)
    return (uniform < spike_probability).astype(jnp.float32)


def summarize_spikes(spikes: jax.Array) -> jax.Array:
    """Compute the summary statistics X^T y of spike trains.

    Args:
        spikes: Spike trains, shape `(num_simulations, 100)`.

    Returns:
        Float32 statistics, shape `(num_simulations, 10)`: the spike count, then the 9
        spike-triggered stimulus sums.

    Raises:
        ValueError: If `spikes` does not have shape `(num_simulations, 100)`.
    """
    spikes = jnp.asarray(spikes, dtype=jnp.float32)
    if spikes.ndim != 2 or spikes.shape[1] != NUM_TIME_BINS:
        raise ValueError(
            f"{NAME} summary statistics: spikes must have shape (n, {NUM_TIME_BINS}), got "
            f"shape {tuple(spikes.shape)}."
        )
    return jnp.matmul(spikes, DESIGN_MATRIX, precision=jax.lax.Precision.HIGHEST)


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate the summary statistics of one spike train for each row of `theta`.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(num_simulations, 10)`.

    Returns:
        Float32 data, shape `(num_simulations, 10)`: the spike count, then the 9
        spike-triggered stimulus sums. The same key gives the spike trains of
        `bernoulli_glm_raw.simulate`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 10)`.
    """
    return summarize_spikes(simulate_spikes(key, theta))


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(10,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the Bernoulli GLM task with summary statistics, without a reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 10 and `data_dim` 10.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(name=NAME, prior=prior, simulator=simulate, observation=observation)
