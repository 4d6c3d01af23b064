"""Read the observations and reference posterior samples published with sbibm.

sbibm (github.com/sbi-benchmark/sbibm) ships, for each benchmark task, ten observations with
the parameters that generated them and 10,000 reference posterior samples per observation.
This module reads those files from an installed sbibm distribution without importing sbibm,
whose import pulls in PyTorch. Install the files with

    pip install --no-deps sbibm==1.1.0

The reader follows the file layout of sbibm 1.1.0. For task folder `<folder>` and observation
number `k` in 1 to 10, the files are in `sbibm/tasks/<folder>/files/num_observation_<k>/`:

    observation.csv                      one header row, then one row of data
    reference_posterior_samples.csv.bz2  one header row, then 10,000 rows of parameters
    true_parameters.csv                  one header row, then one row of parameters

Two task names share another task's folder and read a different observation file, as in
sbibm's `get_task`: `slcp_distractors` reads `observation_distractors.csv` from the `slcp`
folder, and `bernoulli_glm_raw` reads `observation_raw.csv` from the `bernoulli_glm` folder.
Both reuse the reference samples and true parameters of the task whose folder they share.

All loaders return float32 NumPy arrays and check the shape against the task's dimensions.
"""

from __future__ import annotations

import bz2
import dataclasses
import importlib.metadata
import importlib.util
import operator
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

__all__ = [
    "INSTALL_COMMAND",
    "NUM_OBSERVATIONS",
    "NUM_REFERENCE_SAMPLES",
    "SBIBM_VERSION",
    "TASK_NAMES",
    "check_observation_number",
    "is_available",
    "load_observation",
    "load_reference_samples",
    "load_true_parameters",
    "make_reference_sampler",
    "observation_directory",
]

SBIBM_VERSION = "1.1.0"
"""The sbibm release whose file layout this module reads."""

INSTALL_COMMAND = f"pip install --no-deps sbibm=={SBIBM_VERSION}"
"""Command that installs sbibm's data files without PyTorch and sbibm's other dependencies."""

_REINSTALL_COMMAND = f"pip install --force-reinstall --no-deps sbibm=={SBIBM_VERSION}"

NUM_OBSERVATIONS = 10
NUM_REFERENCE_SAMPLES = 10_000


@dataclasses.dataclass(frozen=True)
class _TaskFiles:
    """Location and dimensions of one task's files in the sbibm distribution."""

    folder: str
    observation_file: str
    theta_dim: int
    data_dim: int


_TASK_FILES: dict[str, _TaskFiles] = {
    "bernoulli_glm": _TaskFiles("bernoulli_glm", "observation.csv", 10, 10),
    "bernoulli_glm_raw": _TaskFiles("bernoulli_glm", "observation_raw.csv", 10, 100),
    "gaussian_linear": _TaskFiles("gaussian_linear", "observation.csv", 10, 10),
    "gaussian_linear_uniform": _TaskFiles("gaussian_linear_uniform", "observation.csv", 10, 10),
    "gaussian_mixture": _TaskFiles("gaussian_mixture", "observation.csv", 2, 2),
    "lotka_volterra": _TaskFiles("lotka_volterra", "observation.csv", 4, 20),
    "sir": _TaskFiles("sir", "observation.csv", 2, 10),
    "slcp": _TaskFiles("slcp", "observation.csv", 5, 8),
    "slcp_distractors": _TaskFiles("slcp", "observation_distractors.csv", 5, 100),
    "two_moons": _TaskFiles("two_moons", "observation.csv", 2, 2),
}

TASK_NAMES: tuple[str, ...] = tuple(sorted(_TASK_FILES))
"""Names of the tasks for which sbibm publishes observations and reference samples."""


def is_available() -> bool:
    """Return whether an sbibm distribution is installed, without importing it."""
    return _find_package_directory() is not None


def check_observation_number(number: int) -> int:
    """Return `number` as an int after checking that it is an observation number, 1 to 10.

    Raises:
        TypeError: If `number` is not an integer (booleans are rejected too).
        ValueError: If `number` is outside 1 to 10.
    """
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        raise TypeError(f"Observation number must be an integer from 1 to 10, got {number!r}.")
    number = int(number)
    if not 1 <= number <= NUM_OBSERVATIONS:
        raise ValueError(
            f"Observation number {number} is outside 1 to {NUM_OBSERVATIONS}: sbibm publishes "
            f"{NUM_OBSERVATIONS} observations per task. Pass a number from 1 to "
            f"{NUM_OBSERVATIONS}."
        )
    return number


def observation_directory(task_name: str, number: int) -> Path:
    """Return the folder of sbibm's files for one task observation.

    Raises:
        ValueError: If sbibm publishes no data for `task_name`, or `number` is outside 1 to 10.
        TypeError: If `number` is not an integer.
        ModuleNotFoundError: If sbibm is not installed.
    """
    files = _task_files(task_name)
    number = check_observation_number(number)
    package_directory = _find_package_directory()
    if package_directory is None:
        raise ModuleNotFoundError(
            f"sbibm is not installed, so the sbibm data of task {task_name!r} cannot be read. "
            f"Install its data files with `{INSTALL_COMMAND}`.",
            name="sbibm",
        )
    return package_directory / "tasks" / files.folder / "files" / f"num_observation_{number}"


def load_observation(task_name: str, number: int) -> np.ndarray:
    """Load sbibm's observation `number` of a task, shape `(data_dim,)`, float32.

    Raises:
        ValueError: If sbibm publishes no data for `task_name`, `number` is outside 1 to 10, or
            the file is malformed.
        TypeError: If `number` is not an integer.
        ModuleNotFoundError: If sbibm is not installed.
        FileNotFoundError: If the file is missing from the installed sbibm.
    """
    files = _task_files(task_name)
    path = observation_directory(task_name, number) / files.observation_file
    return _read_csv(path, expected_shape=(1, files.data_dim))[0]


def load_reference_samples(task_name: str, number: int) -> np.ndarray:
    """Load sbibm's 10,000 reference posterior samples, shape `(10000, theta_dim)`, float32.

    Raises:
        The same errors as `load_observation`.
    """
    files = _task_files(task_name)
    path = observation_directory(task_name, number) / "reference_posterior_samples.csv.bz2"
    return _read_csv(path, expected_shape=(NUM_REFERENCE_SAMPLES, files.theta_dim))


def load_true_parameters(task_name: str, number: int) -> np.ndarray:
    """Load the parameters that generated sbibm's observation, shape `(theta_dim,)`, float32.

    Raises:
        The same errors as `load_observation`.
    """
    files = _task_files(task_name)
    path = observation_directory(task_name, number) / "true_parameters.csv"
    return _read_csv(path, expected_shape=(1, files.theta_dim))[0]


def make_reference_sampler(samples: np.ndarray) -> Callable[[jax.Array, int], jax.Array]:
    """Build a `reference_sampler(key, num_samples)` that subsamples stored posterior samples.

    Each call draws `num_samples` distinct rows of `samples` without replacement, in an order
    fixed by `key`, so the same key returns the same rows.

    Args:
        samples: Stored posterior samples, shape `(num_stored, theta_dim)`.

    Returns:
        A function that returns a float32 array of shape `(num_samples, theta_dim)` and raises
        `ValueError` unless 1 <= num_samples <= num_stored.
    """
    stored = np.asarray(samples, dtype=np.float32)
    if stored.ndim != 2 or stored.shape[0] == 0:
        raise ValueError(
            f"Reference samples must have shape (num_stored, theta_dim) with at least one row, "
            f"got shape {stored.shape}."
        )
    num_stored = stored.shape[0]

    def reference_sampler(key: jax.Array, num_samples: int) -> jax.Array:
        num_samples = operator.index(num_samples)
        if not 1 <= num_samples <= num_stored:
            raise ValueError(
                f"num_samples must be from 1 to {num_stored}, the number of stored reference "
                f"samples, got {num_samples}. Draws are without replacement, so request at "
                f"most {num_stored}."
            )
        rows = jax.random.choice(key, num_stored, shape=(num_samples,), replace=False)
        return jax.numpy.asarray(stored)[rows]

    return reference_sampler


def _task_files(task_name: str) -> _TaskFiles:
    files = _TASK_FILES.get(task_name) if isinstance(task_name, str) else None
    if files is None:
        raise ValueError(
            f"sbibm publishes no observations or reference samples for task {task_name!r}. "
            f"Tasks with sbibm data: {', '.join(TASK_NAMES)}."
        )
    return files


def _find_package_directory() -> Path | None:
    # find_spec on a top-level name locates the package without running its __init__.
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _installed_version() -> str:
    try:
        return importlib.metadata.version("sbibm")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _read_csv(path: Path, expected_shape: tuple[int, int]) -> np.ndarray:
    """Read a CSV file with one header row into a float32 array of `expected_shape`."""
    if not path.is_file():
        raise FileNotFoundError(
            f"sbibm data file {path} is missing. The installed sbibm version is "
            f"{_installed_version()}, and this reader expects the layout of sbibm "
            f"{SBIBM_VERSION}. Reinstall it with `{_REINSTALL_COMMAND}`."
        )

    try:
        opener = bz2.open if path.suffix == ".bz2" else open
        with opener(path, "rt") as file:
            lines = file.read().splitlines()
        if len(lines) < 2:
            raise ValueError("the file has no data rows after the header")
        # Parsed as float64 and rounded once to float32, as sbibm does when it reads them.
        values = np.loadtxt(lines[1:], delimiter=",", ndmin=2, dtype=np.float64)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(
            f"sbibm data file {path} is malformed and could not be read as a CSV file of "
            f"numbers with one header row: {error}. Reinstall sbibm with `{_REINSTALL_COMMAND}`."
        ) from error

    if values.shape != expected_shape:
        raise ValueError(
            f"sbibm data file {path} is malformed: expected {expected_shape[0]} rows of "
            f"{expected_shape[1]} values after the header, got shape {values.shape}. "
            f"Reinstall sbibm with `{_REINSTALL_COMMAND}`."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"sbibm data file {path} is malformed: it contains NaN or infinite values. "
            f"Reinstall sbibm with `{_REINSTALL_COMMAND}`."
        )
    return values.astype(np.float32)
