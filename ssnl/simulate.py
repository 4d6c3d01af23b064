"""Running a user's simulator in batches and checking what it returns."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssnl.task import Simulator

__all__ = ["simulate", "check_simulations"]

logger = logging.getLogger(__name__)


def check_simulations(y, *, num_simulations: int, data_dim: int, task_name: str) -> np.ndarray:
    """Check the simulator output of one batch and return it as float32 `(n, data_dim)`.

    A one-dimensional output of shape `(n,)` is accepted as `(n, 1)` when `data_dim` is 1.

    Raises:
        ValueError: If the shape does not match, or if any row contains NaN or Inf.
    """
    y = np.asarray(y)
    if y.ndim == 1 and data_dim == 1 and y.shape[0] == num_simulations:
        y = y[:, None]
    expected = (num_simulations, data_dim)
    if y.shape != expected:
        raise ValueError(
            f"Task {task_name!r}: the simulator returned shape {y.shape} for {num_simulations} "
            f"parameter vectors, expected {expected} (one row of data_dim={data_dim} values per "
            "parameter vector, matching the observation)."
        )
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise ValueError(
            f"Task {task_name!r}: the simulator returned dtype {y.dtype}, expected a numeric "
            "array."
        )
    y = y.astype(np.float32)

    invalid_rows = ~np.all(np.isfinite(y), axis=1)
    num_invalid = int(invalid_rows.sum())
    if num_invalid:
        raise ValueError(
            f"Task {task_name!r}: {num_invalid} of {num_simulations} simulations contain NaN or "
            "Inf. Dropping them would bias the learned likelihood; make the simulator return "
            "finite values for every parameter in the prior's support."
        )
    return y


def simulate(
    key: jax.Array,
    simulator: Simulator,
    theta: np.ndarray,
    *,
    data_dim: int,
    task_name: str,
    batch_size: int = 1000,
    progress: bool = False,
) -> np.ndarray:
    """Simulate one data set per parameter vector.

    Args:
        key: PRNG key; batch `i` uses `jax.random.fold_in(key, i)`.
        simulator: `simulator(key, theta)` with theta of shape `(n, theta_dim)`.
        theta: Parameters, shape `(num_simulations, theta_dim)`.
        data_dim: Expected number of data dimensions.
        task_name: Used in error messages.
        batch_size: Number of parameter vectors passed to one simulator call.
        progress: Whether to show a progress bar.

    Returns:
        Simulated data of shape `(num_simulations, data_dim)`, float32.
    """
    theta = np.asarray(theta, dtype=np.float32)
    num_simulations = theta.shape[0]
    starts = range(0, num_simulations, batch_size)
    batches = []
    for index, start in enumerate(
        tqdm(starts, desc="simulate", disable=not progress, leave=False)
    ):
        theta_batch = jnp.asarray(theta[start : start + batch_size])
        y = simulator(jax.random.fold_in(key, index), theta_batch)
        batches.append(
            check_simulations(
                y, num_simulations=theta_batch.shape[0], data_dim=data_dim, task_name=task_name
            )
        )
    logger.info("simulated %d data sets", num_simulations)
    return np.concatenate(batches, axis=0)
