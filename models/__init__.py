"""Benchmark simulation-based inference tasks, built as `ssnl.Task` objects.

Example:
    >>> import models
    >>> "slcp" in models.list_tasks()
    True
    >>> task = models.get_task("slcp")
    >>> task.theta_dim, task.data_dim
    (5, 8)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

from models import (
    bernoulli_glm,
    bernoulli_glm_raw,
    gaussian_linear,
    gaussian_linear_uniform,
    gaussian_mixture,
    lotka_volterra,
    lotka_volterra_100,
    sbibm_data,
    sir,
    sir_100,
    slcp,
    slcp_distractors,
    slcp_distractors_1000,
    two_moons,
)
from ssnl.task import Task

__all__ = [
    "bernoulli_glm",
    "bernoulli_glm_raw",
    "gaussian_linear",
    "gaussian_linear_uniform",
    "gaussian_mixture",
    "get_task",
    "list_tasks",
    "lotka_volterra",
    "lotka_volterra_100",
    "observation_source",
    "sbibm_data",
    "sir",
    "sir_100",
    "slcp",
    "slcp_distractors",
    "slcp_distractors_1000",
    "two_moons",
]

# Each factory is a task module's `make_task`. `get_task` also reads the module's `NAME`,
# `make_prior` and `simulate` to build tasks on sbibm's observations.
_TASK_FACTORIES: dict[str, Callable[..., Task]] = {
    bernoulli_glm.NAME: bernoulli_glm.make_task,
    bernoulli_glm_raw.NAME: bernoulli_glm_raw.make_task,
    gaussian_linear.NAME: gaussian_linear.make_task,
    gaussian_linear_uniform.NAME: gaussian_linear_uniform.make_task,
    gaussian_mixture.NAME: gaussian_mixture.make_task,
    lotka_volterra.NAME: lotka_volterra.make_task,
    lotka_volterra_100.NAME: lotka_volterra_100.make_task,
    sir.NAME: sir.make_task,
    sir_100.NAME: sir_100.make_task,
    slcp.NAME: slcp.make_task,
    slcp_distractors.NAME: slcp_distractors.make_task,
    slcp_distractors_1000.NAME: slcp_distractors_1000.make_task,
    two_moons.NAME: two_moons.make_task,
}


def list_tasks() -> list[str]:
    """Return the names accepted by `get_task`, sorted."""
    return sorted(_TASK_FACTORIES)


def get_task(name: str, observation: int | None = None) -> Task:
    """Build a benchmark task with its default observation or with observation number K.

    With `observation=None`, the task gets the module's default observation, drawn with JAX
    from the seed `DEFAULT_OBSERVATION_SEED` that each task module documents.

    With `observation=K`, an integer from 1 to 10, the result depends on whether sbibm is
    installed (`pip install --no-deps sbibm==1.1.0`, see `models.sbibm_data`):

    - With sbibm installed, for a task with sbibm data, the task gets sbibm's published
      observation K. Its `reference_sampler(key, num_samples)` returns `num_samples` of
      sbibm's 10,000 reference posterior samples for observation K, drawn without
      replacement in an order fixed by `key`. It raises `ValueError` for more than 10,000.
    - Otherwise the task is the module's `make_task(observation_seed=K)`: an observation drawn
      with JAX from seed K, which differs from sbibm's observation K, and the module's exact
      reference sampler where the module has one.

    `observation_source(name, observation)` returns which of the two applies.

    Args:
        name: Task name, one of `list_tasks()`.
        observation: `None` for the default observation, or an observation number, 1 to 10.

    Returns:
        A new `ssnl.Task`.

    Raises:
        ValueError: If `name` is not a known task or `observation` is outside 1 to 10.
        TypeError: If `observation` is neither `None` nor an integer.
        FileNotFoundError: If sbibm is installed but a file of observation K is missing.
    """
    factory = _factory(name)
    if observation is None:
        return factory()

    number = sbibm_data.check_observation_number(observation)
    module = sys.modules[factory.__module__]
    if _has_sbibm_data(module) and sbibm_data.is_available():
        return _make_sbibm_task(module, number)
    return factory(observation_seed=number)


def observation_source(name: str, observation: int | None = None) -> str:
    """Return where `get_task(name, observation)` takes its observation from.

    Returns:
        `"sbibm"` when the observation and reference samples are sbibm's published ones, so
        scores are comparable with sbibm's results. `"seeded"` when the observation is drawn
        with JAX from a seed: always for `observation=None`, and for `observation=K` when
        sbibm is not installed or has no data for the task.

    Raises:
        The same `ValueError` and `TypeError` as `get_task` for an unknown task or an invalid
        observation number.
    """
    factory = _factory(name)
    if observation is None:
        return "seeded"
    sbibm_data.check_observation_number(observation)
    module = sys.modules[factory.__module__]
    return "sbibm" if _has_sbibm_data(module) and sbibm_data.is_available() else "seeded"


def _factory(name: str) -> Callable[..., Task]:
    factory = _TASK_FACTORIES.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ValueError(f"Unknown task {name!r}. Available tasks: {', '.join(list_tasks())}.")
    return factory


def _has_sbibm_data(module: ModuleType) -> bool:
    return module.NAME in sbibm_data.TASK_NAMES or hasattr(module, "SBIBM_REFERENCE_TASK")


def _make_sbibm_task(module: ModuleType, number: int) -> Task:
    """Build a module's task on sbibm's observation `number` and reference samples.

    A module whose data sbibm does not publish under its own name supplies
    `SBIBM_REFERENCE_TASK`, the sbibm task whose reference samples apply, and
    `load_sbibm_observation(number)`, which builds its observation.
    """
    reference_task = getattr(module, "SBIBM_REFERENCE_TASK", module.NAME)
    if hasattr(module, "load_sbibm_observation"):
        observation = module.load_sbibm_observation(number)
    else:
        observation = sbibm_data.load_observation(module.NAME, number)
    samples = sbibm_data.load_reference_samples(reference_task, number)
    return Task(
        name=module.NAME,
        prior=module.make_prior(),
        simulator=module.simulate,
        observation=observation,
        reference_sampler=sbibm_data.make_reference_sampler(samples),
    )
