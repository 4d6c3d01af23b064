import haiku as hk
import jax
import numpy as np
import pytest

import surjectors_core
from ssnl.train import TrainingConfig, train


def _pool(num_points, seed):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((num_points, 2)).astype(np.float32)
    y = (theta + 0.3 * rng.standard_normal((num_points, 2))).astype(np.float32)
    return theta, y


@pytest.fixture(scope="module")
def log_prob():
    make_flow = surjectors_core.make_flow(2, 2, (), hidden_sizes=(16, 16))
    return hk.without_apply_rng(hk.transform(lambda y, theta: make_flow().log_prob(y, theta)))


def _compilations(caplog, function_name):
    return [r for r in caplog.records if f"Compiling jit({function_name})" in r.getMessage()]


def test_growing_pool_compiles_once(log_prob, caplog):
    config = TrainingConfig(max_epochs=3)
    with jax.log_compiles(), caplog.at_level("WARNING"):
        train(jax.random.key(0), log_prob, *_pool(300, 0), config=config, capacity=900)
        first = len(_compilations(caplog, "run_epoch"))
        caplog.clear()
        train(jax.random.key(1), log_prob, *_pool(600, 1), config=config, capacity=900)
        train(jax.random.key(2), log_prob, *_pool(900, 2), config=config, capacity=900)
        later = len(_compilations(caplog, "run_epoch"))

    assert first == 1
    assert later == 0


def test_padding_leaves_training_unchanged(log_prob):
    # The minibatch order depends on row indices only and padding rows have zero weight, so a
    # padded and an unpadded run take the same steps; 1e-4 allows for float32 summation order.
    config = TrainingConfig(max_epochs=5)
    theta, y = _pool(400, 3)
    plain = train(jax.random.key(4), log_prob, theta, y, config=config)
    padded = train(jax.random.key(4), log_prob, theta, y, config=config, capacity=2000)
    assert padded.num_epochs == plain.num_epochs
    np.testing.assert_allclose(padded.validation_losses, plain.validation_losses, rtol=1e-4)
