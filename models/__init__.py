"""Benchmark simulation-based inference tasks, built as `ssnl.Task` objects.

Example:
    >>> import models
    >>> models.list_tasks()
    ['gaussian_linear', 'slcp']
    >>> task = models.get_task("slcp")
    >>> task.theta_dim, task.data_dim
    (5, 8)
"""

from __future__ import annotations

from collections.abc import Callable

from models import gaussian_linear, slcp
from ssnl.task import Task

__all__ = ["gaussian_linear", "get_task", "list_tasks", "slcp"]

_TASK_FACTORIES: dict[str, Callable[[], Task]] = {
    gaussian_linear.NAME: gaussian_linear.make_task,
    slcp.NAME: slcp.make_task,
}


def list_tasks() -> list[str]:
    """Return the names accepted by `get_task`, sorted."""
    return sorted(_TASK_FACTORIES)


def get_task(name: str) -> Task:
    """Build a benchmark task with its default observation.

    Each task module documents the seed of its default observation as
    `DEFAULT_OBSERVATION_SEED`. Call the module's `make_task(observation_seed=...)` for another
    observation.

    Args:
        name: Task name, one of `list_tasks()`.

    Returns:
        A new `ssnl.Task`.

    Raises:
        ValueError: If `name` is not a known task.
    """
    factory = _TASK_FACTORIES.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ValueError(f"Unknown task {name!r}. Available tasks: {', '.join(list_tasks())}.")
    return factory()
