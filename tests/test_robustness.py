import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssnl

# Small fits: two rounds of 500 simulations, 2,000 draws from 4 chains. The learned likelihood,
# not Monte Carlo noise, dominates the error, so the tolerances below are fractions of the
# exact posterior sd that a flow trained on 1,000 simulations reaches.
FIT_SETTINGS = {
    "rounds": 2,
    "simulations_per_round": 500,
    "num_samples": 2000,
    # 300 warm-up steps, so that four chains mix well and the sampler adds little error.
    "sampler": ssnl.SamplerConfig(num_chains=4, num_warmup=300),
    "progress": False,
}


def _box(low, high, dim):
    return distrax.Independent(
        distrax.Uniform(low=jnp.full(dim, low), high=jnp.full(dim, high)), 1
    )


def _normal(dim, scale=1.0):
    return distrax.MultivariateNormalDiag(jnp.zeros(dim), jnp.full(dim, scale))


def _additive_noise(noise_sd):
    def simulator(key, theta):
        return theta + noise_sd * jax.random.normal(key, theta.shape)

    return simulator


def test_gaussian_posterior_two_dimensions():
    # theta ~ N(0, I), y ~ N(theta, 0.1^2 I): posterior N(y_o / 1.01, (0.1^2 / 1.01) I), so
    # mean 0.990 y_o and sd 0.0995.
    observation = jnp.array([0.7, -0.4])
    task = ssnl.Task("normal_2d", _normal(2), _additive_noise(0.1), observation)
    samples = ssnl.fit(jax.random.key(0), task, **FIT_SETTINGS).samples

    exact_sd = 0.0995
    # A quarter of the posterior sd for the mean and 20% of it for the sd.
    np.testing.assert_allclose(samples.mean(axis=0), 0.990 * observation, atol=0.25 * exact_sd)
    np.testing.assert_allclose(samples.std(axis=0), exact_sd, rtol=0.2)


def test_bounded_posterior_stays_in_support():
    # theta ~ U(0, 1), y ~ N(theta, 0.05^2), y_o = 0.98: quadrature gives the truncated
    # normal posterior's mean 0.952 and sd 0.034.
    task = ssnl.Task("unit_interval", _box(0.0, 1.0, 1), _additive_noise(0.05), [0.98])
    samples = ssnl.fit(jax.random.key(1), task, **FIT_SETTINGS).samples

    assert np.all(samples >= 0.0)
    assert np.all(samples <= 1.0)
    # A quarter of the sd for the mean and 20% of it for the sd, as above.
    assert abs(samples.mean() - 0.952) < 0.25 * 0.034
    assert abs(samples.std() - 0.034) < 0.2 * 0.034


def test_repeated_trials_sum_likelihoods():
    # theta ~ N(0, 1), ten trials y_i ~ N(theta, 0.3^2) with mean 0.5: the posterior precision
    # is 1 + 10 / 0.09, so the posterior is N(0.4955, 0.0944^2).
    trials = 0.5 + 0.3 * np.array([-1.2, 0.4, 0.9, -0.3, 1.5, -0.8, 0.1, -1.1, 0.7, -0.2])
    trials = (trials - trials.mean() + 0.5)[:, None]
    task = ssnl.Task("trials", _normal(1), _additive_noise(0.3), trials)
    assert task.num_trials == 10
    result = ssnl.fit(jax.random.key(2), task, **FIT_SETTINGS)
    samples = result.samples

    # Ten trials multiply the likelihood's errors by ten, so the tolerances are 0.5 and 0.3 of
    # the posterior sd, twice those of the single-observation tests.
    assert abs(samples.mean() - 0.4955) < 0.5 * 0.0944
    assert abs(samples.std() - 0.0944) < 0.3 * 0.0944
    assert result.inference_data["observed_data"]["y"].dims == ("trial", "y_dim")


def _nan_above_one(key, theta):
    y = theta + 0.1 * jax.random.normal(key, theta.shape)
    return jnp.where(theta[:, 1:2] > 1.0, jnp.nan, y)


def test_invalid_simulations_raise_with_count():
    task = ssnl.Task("partly_invalid", _box(-2.0, 2.0, 2), _nan_above_one, [0.0, 0.0])
    with pytest.raises(ValueError, match=r"\d+ of 500 simulations contain NaN or Inf"):
        ssnl.fit(jax.random.key(3), task, **FIT_SETTINGS)


def test_invalid_simulations_excluded_on_request():
    task = ssnl.Task("partly_invalid", _box(-2.0, 2.0, 2), _nan_above_one, [0.0, 0.0])
    with pytest.warns(UserWarning, match="excluded from training"):
        result = ssnl.fit(jax.random.key(3), task, exclude_invalid=True, **FIT_SETTINGS)

    first = result.rounds[0]
    # A quarter of U(-2, 2) lies above 1; 500 draws give 125 +- 10 invalid simulations.
    assert 80 < first.invalid_simulations < 170
    assert first.num_simulations == 500 - first.invalid_simulations
    assert np.isfinite(first.train_loss)
    assert np.isfinite(first.validation_loss)
    assert result.theta.shape[0] == sum(record.num_simulations for record in result.rounds)


def test_all_invalid_simulations_always_raise():
    def all_nan(key, theta):
        return jnp.full(theta.shape, jnp.nan)

    task = ssnl.Task("all_invalid", _box(-2.0, 2.0, 2), all_nan, [0.0, 0.0])
    with pytest.raises(ValueError, match="No simulation is left"):
        ssnl.fit(jax.random.key(4), task, exclude_invalid=True, **FIT_SETTINGS)


def test_constant_column_leaves_posterior_unchanged():
    def with_zero_column(key, theta):
        return jnp.concatenate(
            [_additive_noise(0.1)(key, theta), jnp.zeros((theta.shape[0], 1))], 1
        )

    observation = jnp.array([0.3, -0.2])
    plain = ssnl.Task("plain", _normal(2), _additive_noise(0.1), observation)
    padded = ssnl.Task("padded", _normal(2), with_zero_column, jnp.append(observation, 0.0))
    plain_samples = ssnl.fit(jax.random.key(5), plain, **FIT_SETTINGS).samples
    padded_samples = ssnl.fit(jax.random.key(5), padded, **FIT_SETTINGS).samples

    # Both fits estimate the same posterior, whose sd is 0.0995. Each lies within a quarter sd
    # of it, so they differ by at most about half an sd.
    np.testing.assert_allclose(
        padded_samples.mean(axis=0), plain_samples.mean(axis=0), atol=0.5 * 0.0995
    )
    np.testing.assert_allclose(padded_samples.std(axis=0), plain_samples.std(axis=0), rtol=0.3)


def test_one_dimensional_simulator_output_accepted():
    def flat_output(key, theta):
        return theta[:, 0] + 0.1 * jax.random.normal(key, theta.shape[:1])

    task = ssnl.Task("flat", _normal(1), flat_output, [0.2])
    result = ssnl.fit(jax.random.key(6), task, **{**FIT_SETTINGS, "rounds": 1})
    assert result.y.shape == (500, 1)


def test_wrong_simulator_width_rejected():
    def three_columns(key, theta):
        return jnp.zeros((theta.shape[0], 3))

    task = ssnl.Task("wrong_width", _normal(2), three_columns, [0.0, 0.0])
    with pytest.raises(ValueError, match=r"returned shape \(500, 3\).*expected \(500, 2\)"):
        ssnl.fit(jax.random.key(7), task, **FIT_SETTINGS)


def test_constant_simulator_reported():
    def constant(key, theta):
        return jnp.ones((theta.shape[0], 2))

    task = ssnl.Task("constant", _normal(2), constant, [1.0, 1.0])
    with pytest.warns(UserWarning, match="same data for all 500 parameter vectors"):
        ssnl.fit(jax.random.key(8), task, **{**FIT_SETTINGS, "rounds": 1})


def test_distant_observation_warns_with_dimensions():
    task = ssnl.Task("distant", _normal(2), _additive_noise(0.1), [0.0, 40.0])
    with pytest.warns(UserWarning, match=r"data dimensions 1 \(z = "):
        ssnl.fit(jax.random.key(9), task, **{**FIT_SETTINGS, "rounds": 1})


def test_nan_observation_rejected():
    with pytest.raises(ValueError, match=r"NaN or Inf at indices \[1\]"):
        ssnl.Task("bad", _normal(2), _additive_noise(0.1), [0.0, np.nan])


def test_few_effective_draws_logged(caplog):
    task = ssnl.Task("normal_2d", _normal(2), _additive_noise(0.1), [0.1, 0.2])
    settings = {**FIT_SETTINGS, "rounds": 1, "num_samples": 40}
    with caplog.at_level("WARNING", logger="ssnl.inference"):
        result = ssnl.fit(jax.random.key(10), task, **settings)
    assert result.rounds[0].min_ess < 400
    assert "strongly autocorrelated: min bulk ESS" in caplog.text


def test_box_prior_one_chain_agrees_with_four():
    # Three U(0, 1) parameters observed with N(0, 0.1^2) noise. The training is identical for
    # both runs (one round, same key), so only the MCMC differs.
    observation = jnp.array([0.2, 0.5, 0.95])
    task = ssnl.Task("unit_cube", _box(0.0, 1.0, 3), _additive_noise(0.1), observation)
    runs = {}
    for num_chains in (1, 4):
        settings = {
            **FIT_SETTINGS,
            "rounds": 1,
            "simulations_per_round": 1000,
            "num_samples": 4000,
            "sampler": ssnl.SamplerConfig(num_chains=num_chains),
        }
        runs[num_chains] = ssnl.fit(jax.random.key(12), task, **settings).samples

    for samples in runs.values():
        assert np.all(samples >= 0.0)
        assert np.all(samples <= 1.0)
    # The posterior sds are about 0.1; 4,000 draws give a Monte Carlo error of the mean below
    # 0.1 / sqrt(1000) = 0.003 per run even at an ESS of 1,000, so 0.02 is several of them.
    np.testing.assert_allclose(runs[1].mean(axis=0), runs[4].mean(axis=0), atol=0.02)
    np.testing.assert_allclose(runs[1].std(axis=0), runs[4].std(axis=0), rtol=0.1)


def test_many_divergences_logged(caplog):
    # A target acceptance rate of 0.05 makes the step-size adaptation pick steps far too long
    # for this narrow posterior, so many NUTS transitions diverge.
    task = ssnl.Task("normal_2d", _normal(2), _additive_noise(0.1), [0.1, 0.2])
    sampler = ssnl.SamplerConfig(num_chains=4, target_acceptance_rate=0.05)
    settings = {**FIT_SETTINGS, "rounds": 1, "sampler": sampler}
    with caplog.at_level("WARNING", logger="ssnl.inference"):
        result = ssnl.fit(jax.random.key(11), task, **settings)
    assert result.rounds[0].divergences > 20
    assert f"{result.rounds[0].divergences} of the 2000 final NUTS transitions" in caplog.text


def test_few_divergences_not_logged(caplog):
    task = ssnl.Task("normal_2d", _normal(2), _additive_noise(0.1), [0.1, 0.2])
    with caplog.at_level("WARNING", logger="ssnl.inference"):
        result = ssnl.fit(jax.random.key(11), task, **{**FIT_SETTINGS, "rounds": 1})
    assert result.rounds[0].divergences <= 20
    assert "NUTS transitions diverged" not in caplog.text
