"""Running a user's simulator in batches and checking what it returns."""

from __future__ import annotations

import logging
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssnl.task import Simulator

__all__ = ["Simulations", "simulate", "check_simulations"]

logger = logging.getLogger(__name__)


class Simulations(NamedTuple):
    """Parameters and data of one batch of simulations, invalid rows removed.

    Attributes:
        theta: Parameters of the valid simulations, shape `(num_valid, theta_dim)`.
        y: Valid simulated data, shape `(num_valid, data_dim)`, float32.
        num_invalid: Number of simulations dropped because they contain NaN or Inf.
    """

    theta: np.ndarray
    y: np.ndarray
    num_invalid: int


def check_simulations(y, *, num_simulations: int, data_dim: int, task_name: str) -> np.ndarray:
    """Check the shape and dtype of one batch of simulator output.

    A one-dimensional output of shape `(n,)` is accepted as `(n, 1)` when `data_dim` is 1.
    Integer and float64 output is cast to float32. NaN and Inf pass unchanged.

    Returns:
        The output as float32, shape `(num_simulations, data_dim)`.

    Raises:
        ValueError: If the shape does not match or the dtype is not numeric.
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
    return y.astype(np.float32)


def _remove_invalid(theta, y, *, exclude_invalid: bool, task_name: str) -> Simulations:
    is_invalid = ~np.all(np.isfinite(y), axis=1)
    num_invalid = int(is_invalid.sum())
    num_simulations = y.shape[0]
    if num_invalid == 0:
        return Simulations(theta, y, 0)

    message = (
        f"Task {task_name!r}: {num_invalid} of {num_simulations} simulations contain NaN or Inf."
    )
    if num_invalid == num_simulations:
        raise ValueError(f"{message} No simulation is left to learn from; fix the simulator.")
    if not exclude_invalid:
        raise ValueError(
            f"{message} Dropping them can bias the learned likelihood, so ssnl stops here. Make "
            "the simulator return finite values for every parameter in the prior's support, or "
            "pass exclude_invalid=True to drop those simulations and record their count."
        )
    warnings.warn(
        f"{message} They are excluded from training (exclude_invalid=True); the posterior "
        "ignores the parameter region that produced them.",
        stacklevel=3,
    )
    return Simulations(theta[~is_invalid], y[~is_invalid], num_invalid)


def simulate(
    key: jax.Array,
    simulator: Simulator,
    theta: np.ndarray,
    *,
    data_dim: int,
    task_name: str,
    batch_size: int = 1000,
    exclude_invalid: bool = False,
    progress: bool = False,
) -> Simulations:
    """Simulate one data set per parameter vector.

    Args:
        key: PRNG key; batch `i` uses `jax.random.fold_in(key, i)`.
        simulator: `simulator(key, theta)` with theta of shape `(n, theta_dim)`.
        theta: Parameters, shape `(num_simulations, theta_dim)`.
        data_dim: Expected number of data dimensions.
        task_name: Used in error messages.
        batch_size: Number of parameter vectors passed to one simulator call.
        exclude_invalid: Drop simulations containing NaN or Inf with a warning, instead of
            raising an error. Even then, all simulations invalid is an error.
        progress: Whether to show a progress bar.

    Returns:
        The valid simulations and the number dropped.

    Raises:
        ValueError: For output of the wrong shape or dtype, and for NaN or Inf rows unless
            `exclude_invalid` is set.
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
    y = np.concatenate(batches, axis=0)
    return _remove_invalid(theta, y, exclude_invalid=exclude_invalid, task_name=task_name)
