"""Tests for `models.get_task(name, observation=K)` and `models.observation_source`."""

import importlib.util

import jax
import numpy as np
import pytest

import models
from models import gaussian_linear, sbibm_data, slcp, slcp_distractors_1000

requires_sbibm = pytest.mark.skipif(
    not sbibm_data.is_available(),
    reason="sbibm is not installed; install its data files with "
    "`pip install --no-deps sbibm==1.1.0`",
)

_real_find_spec = importlib.util.find_spec


@pytest.fixture
def without_sbibm(monkeypatch):
    """Hide an installed sbibm from the package lookup."""

    def find_spec(name, *args, **kwargs):
        return None if name == "sbibm" else _real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_default_observation_unchanged():
    task = models.get_task("gaussian_linear")
    expected = gaussian_linear.make_task()

    np.testing.assert_array_equal(task.observation, expected.observation)
    assert models.observation_source("gaussian_linear") == "seeded"


@requires_sbibm
def test_sbibm_observation_used():
    task = models.get_task("gaussian_linear", observation=2)

    np.testing.assert_array_equal(
        task.observation, sbibm_data.load_observation("gaussian_linear", 2)
    )
    assert task.name == "gaussian_linear"
    assert task.theta_dim == 10
    assert models.observation_source("gaussian_linear", 2) == "sbibm"


@requires_sbibm
def test_sbibm_reference_sampler_rows():
    task = models.get_task("slcp", observation=3)
    stored = sbibm_data.load_reference_samples("slcp", 3)

    draws = np.asarray(task.reference_sampler(jax.random.key(0), 500))
    again = np.asarray(task.reference_sampler(jax.random.key(0), 500))

    assert draws.shape == (500, 5)
    assert draws.dtype == np.float32
    np.testing.assert_array_equal(draws, again)
    # Every drawn row is a stored row, and no stored row is drawn twice.
    matches = (draws[:, None, :] == stored[None, :, :]).all(axis=2)
    assert np.all(matches.sum(axis=1) == 1)
    assert len(np.unique(matches.argmax(axis=1))) == 500
    with pytest.raises(ValueError, match="from 1 to 10000"):
        task.reference_sampler(jax.random.key(0), 10_001)


@requires_sbibm
def test_sbibm_task_uses_module_simulator():
    task = models.get_task("slcp", observation=1)
    theta = np.zeros((3, 5), dtype=np.float32)

    np.testing.assert_array_equal(
        task.simulator(jax.random.key(0), theta), slcp.simulate(jax.random.key(0), theta)
    )


@requires_sbibm
def test_distractors_1000_sbibm_observation():
    task = models.get_task("slcp_distractors_1000", observation=5)
    again = models.get_task("slcp_distractors_1000", observation=5)

    assert task.observation.shape == (1000,)
    np.testing.assert_array_equal(task.observation, again.observation)
    np.testing.assert_array_equal(
        slcp_distractors_1000.informative_data(task.observation),
        sbibm_data.load_observation("slcp", 5),
    )
    draws = np.asarray(task.reference_sampler(jax.random.key(1), 10_000))
    np.testing.assert_array_equal(
        np.sort(draws, axis=0), np.sort(sbibm_data.load_reference_samples("slcp", 5), axis=0)
    )
    assert models.observation_source("slcp_distractors_1000", 5) == "sbibm"


def test_fallback_without_sbibm(without_sbibm):
    task = models.get_task("gaussian_linear", observation=3)
    expected = gaussian_linear.make_task(observation_seed=3)

    np.testing.assert_array_equal(task.observation, expected.observation)
    np.testing.assert_array_equal(
        task.reference_sampler(jax.random.key(2), 50),
        expected.reference_sampler(jax.random.key(2), 50),
    )
    assert models.observation_source("gaussian_linear", 3) == "seeded"


def test_fallback_distractors_1000(without_sbibm):
    task = models.get_task("slcp_distractors_1000", observation=2)
    expected = slcp_distractors_1000.make_task(observation_seed=2)

    np.testing.assert_array_equal(task.observation, expected.observation)
    assert task.reference_sampler is None
    assert models.observation_source("slcp_distractors_1000", 2) == "seeded"


def test_fallback_observations_differ(without_sbibm):
    first = models.get_task("slcp", observation=1)
    second = models.get_task("slcp", observation=2)

    assert not np.array_equal(first.observation, second.observation)


@pytest.mark.parametrize("observation", [0, 11])
def test_observation_out_of_range(observation):
    with pytest.raises(ValueError, match=f"Observation number {observation} is outside 1 to 10"):
        models.get_task("slcp", observation=observation)
    with pytest.raises(ValueError, match="outside 1 to 10"):
        models.observation_source("slcp", observation)


def test_observation_not_integer():
    with pytest.raises(TypeError, match="must be an integer"):
        models.get_task("slcp", observation="1")


def test_unknown_task_rejected():
    with pytest.raises(ValueError, match="Unknown task 'slcp_x'"):
        models.get_task("slcp_x", observation=1)
    with pytest.raises(ValueError, match="Unknown task 'slcp_x'"):
        models.observation_source("slcp_x", 1)
