import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssnl

SETTINGS = {
    "simulations_per_round": 200,
    "num_samples": 400,
    "sampler": ssnl.SamplerConfig(num_chains=2, num_warmup=100),
    "progress": False,
}


class CountingSimulator:
    """Adds N(0, 0.1^2) noise to theta and counts the parameter vectors it simulates."""

    def __init__(self):
        self.num_simulated = 0

    def __call__(self, key, theta):
        self.num_simulated += theta.shape[0]
        return theta + 0.1 * jax.random.normal(key, theta.shape)


def _task(simulator):
    prior = distrax.MultivariateNormalDiag(jnp.zeros(2), jnp.ones(2))
    return ssnl.Task("given", prior, simulator, jnp.array([0.3, -0.3]))


def _given_simulations(num_simulations, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(num_simulations, 2)).astype(np.float32)
    y = (theta + 0.1 * rng.normal(size=theta.shape)).astype(np.float32)
    return theta, y


def test_one_round_uses_given_simulations():
    simulator = CountingSimulator()
    theta, y = _given_simulations(150)

    result = ssnl.fit(
        jax.random.key(0), _task(simulator), rounds=1, initial_simulations=(theta, y), **SETTINGS
    )

    assert simulator.num_simulated == 0
    np.testing.assert_array_equal(result.theta, theta)
    np.testing.assert_array_equal(result.y, y)
    assert result.rounds[0].num_simulations == 150
    assert result.samples.shape == (400, 2)


def test_later_rounds_simulate_from_posterior():
    simulator = CountingSimulator()
    theta, y = _given_simulations(150)

    result = ssnl.fit(
        jax.random.key(0), _task(simulator), rounds=2, initial_simulations=(theta, y), **SETTINGS
    )

    assert simulator.num_simulated == 200
    assert [record.total_simulations for record in result.rounds] == [150, 350]
    np.testing.assert_array_equal(result.theta[:150], theta)


def test_given_simulations_match_simulated_fit():
    key = jax.random.key(3)
    simulated = ssnl.fit(key, _task(CountingSimulator()), rounds=1, **SETTINGS)

    simulator = CountingSimulator()
    reused = ssnl.fit(
        key,
        _task(simulator),
        rounds=1,
        initial_simulations=(simulated.theta, simulated.y),
        **SETTINGS,
    )

    assert simulator.num_simulated == 0
    # Training and MCMC use the same keys and data, so only a different order of float32
    # sums between compilations can separate the draws.
    np.testing.assert_allclose(reused.samples, simulated.samples, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("initial_simulations", "error", "message"),
    [
        (np.zeros((50, 2)), TypeError, "must be a pair"),
        ((np.zeros((50, 3)), np.zeros((50, 2))), ValueError, r"theta must have shape \(n, 2\)"),
        ((np.zeros(50), np.zeros((50, 2))), ValueError, r"theta must have shape \(n, 2\)"),
        ((np.zeros((5, 2)), np.zeros((5, 2))), ValueError, "at least 10 simulations"),
        ((np.zeros((50, 2)), np.zeros((40, 2))), ValueError, r"y must have shape \(50, 2\)"),
        ((np.zeros((50, 2)), np.zeros((50, 3))), ValueError, r"y must have shape \(50, 2\)"),
        ((np.zeros((50, 2)), np.full((50, 2), "a")), ValueError, "y must be numeric"),
        (
            (np.full((50, 2), np.nan), np.zeros((50, 2))),
            ValueError,
            "theta contains NaN or Inf in 50 rows",
        ),
    ],
)
def test_invalid_initial_simulations_rejected(initial_simulations, error, message):
    simulator = CountingSimulator()
    with pytest.raises(error, match=message):
        ssnl.fit(
            jax.random.key(0),
            _task(simulator),
            rounds=1,
            initial_simulations=initial_simulations,
            **SETTINGS,
        )
    assert simulator.num_simulated == 0


def test_non_finite_data_rejected_by_default():
    theta, y = _given_simulations(150)
    y[7] = np.nan
    with pytest.raises(ValueError, match="1 of 150 simulations contain NaN or Inf"):
        ssnl.fit(
            jax.random.key(0),
            _task(CountingSimulator()),
            rounds=1,
            initial_simulations=(theta, y),
            **SETTINGS,
        )


def test_non_finite_data_dropped_when_excluded():
    theta, y = _given_simulations(150)
    y[7] = np.inf

    with pytest.warns(UserWarning, match="excluded from training"):
        result = ssnl.fit(
            jax.random.key(0),
            _task(CountingSimulator()),
            rounds=1,
            initial_simulations=(theta, y),
            exclude_invalid=True,
            **SETTINGS,
        )

    assert result.rounds[0].invalid_simulations == 1
    assert result.rounds[0].num_simulations == 149
    np.testing.assert_array_equal(result.theta, np.delete(theta, 7, axis=0))


def test_checkpoint_stores_and_resumes_given_simulations(tmp_path):
    output_dir = tmp_path / "fit"
    theta, y = _given_simulations(150)
    key = jax.random.key(5)
    ssnl.fit(
        key,
        _task(CountingSimulator()),
        rounds=1,
        initial_simulations=(theta, y),
        output_dir=output_dir,
        **SETTINGS,
    )
    with np.load(output_dir / "simulations_round01.npz") as arrays:
        np.testing.assert_array_equal(arrays["theta"], theta)
        np.testing.assert_array_equal(arrays["y"], y)

    simulator = CountingSimulator()
    resumed = ssnl.fit(
        key,
        _task(simulator),
        rounds=2,
        initial_simulations=(theta, y),
        output_dir=output_dir,
        resume=True,
        **SETTINGS,
    )

    assert simulator.num_simulated == 200
    assert [record.round for record in resumed.rounds] == [1, 2]
    np.testing.assert_array_equal(resumed.theta[:150], theta)


def test_resume_with_other_simulations_rejected(tmp_path):
    output_dir = tmp_path / "fit"
    theta, y = _given_simulations(150)
    key = jax.random.key(5)
    ssnl.fit(
        key,
        _task(CountingSimulator()),
        rounds=1,
        initial_simulations=(theta, y),
        output_dir=output_dir,
        **SETTINGS,
    )

    other = _given_simulations(150, seed=1)
    with pytest.raises(ValueError, match="initial_simulations: stored"):
        ssnl.fit(
            key,
            _task(CountingSimulator()),
            rounds=2,
            initial_simulations=other,
            output_dir=output_dir,
            resume=True,
            **SETTINGS,
        )
    with pytest.raises(ValueError, match="requested None"):
        ssnl.fit(
            key,
            _task(CountingSimulator()),
            rounds=2,
            output_dir=output_dir,
            resume=True,
            **SETTINGS,
        )
