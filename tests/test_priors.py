import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorflow_probability.substrates import jax as tfp

import ssnl
from ssnl.mcmc import SamplerConfig, sample_posterior
from ssnl.priors import IndependentPrior, box_uniform

tfd = tfp.distributions

NOISE_SD = 0.5
OBSERVATION = np.array([0.9, 0.2, 3.0, 0.05], np.float32)


def _mixed_prior():
    return IndependentPrior(
        [
            distrax.Uniform(0.0, 1.0),
            tfd.LogNormal(0.0, 1.0),
            distrax.Gamma(2.0, 1.0),
            tfd.HalfCauchy(0.0, 1.0),
        ]
    )


def test_box_uniform_checks_bounds():
    prior = box_uniform([-1.0, 0.0], [1.0, 2.0])
    assert prior.event_shape == (2,)
    with pytest.raises(ValueError, match=r"not so at \[1\]"):
        box_uniform([0.0, 2.0], [1.0, 2.0])


def test_independent_prior_support_and_log_prob():
    prior = _mixed_prior()
    low, high = ssnl.prior_support(prior)
    np.testing.assert_array_equal(low, [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(high, [1.0, np.inf, np.inf, np.inf])

    theta = jnp.array([0.3, 1.5, 2.0, 0.7])
    expected = (
        distrax.Uniform(0.0, 1.0).log_prob(0.3)
        + tfd.LogNormal(0.0, 1.0).log_prob(1.5)
        + distrax.Gamma(2.0, 1.0).log_prob(2.0)
        + tfd.HalfCauchy(0.0, 1.0).log_prob(0.7)
    )
    # Same float32 terms summed in the same order.
    np.testing.assert_allclose(prior.log_prob(theta), expected, rtol=1e-6)
    samples = prior.sample(seed=jax.random.key(0), sample_shape=(500,))
    assert samples.shape == (500, 4)
    assert np.all(samples >= 0.0)


def test_independent_prior_rejects_vector_component():
    with pytest.raises(ValueError, match="must be scalar"):
        IndependentPrior([distrax.MultivariateNormalDiag(jnp.zeros(2), jnp.ones(2))])


def test_unknown_component_family_rejected():
    with pytest.raises(NotImplementedError, match="VonMises"):
        IndependentPrior([distrax.VonMises(0.0, 1.0)])


def _marginal_moments(prior_component, observed, low, high):
    grid = np.linspace(max(low, 1e-6), min(high, 60.0), 400_001)
    log_density = np.asarray(prior_component.log_prob(jnp.asarray(grid, jnp.float32)), np.float64)
    log_density += -0.5 * ((observed - grid) / NOISE_SD) ** 2
    density = np.exp(log_density - log_density.max())
    density /= np.trapezoid(density, grid)
    mean = np.trapezoid(grid * density, grid)
    return mean, np.sqrt(np.trapezoid((grid - mean) ** 2 * density, grid))


def test_mcmc_matches_quadrature_for_mixed_prior():
    # With independent components and a likelihood y_i ~ N(theta_i, 0.5^2), the posterior
    # factorises, so each marginal's moments follow from one-dimensional quadrature.
    prior = _mixed_prior()
    mapping = ssnl.make_unconstraining_map(prior)

    def log_posterior(theta):
        log_likelihood = -0.5 * jnp.sum(((OBSERVATION - theta) / NOISE_SD) ** 2)
        return log_likelihood + prior.log_prob(theta)

    result = sample_posterior(
        jax.random.key(0),
        log_posterior,
        mapping,
        jnp.tile(jnp.array([0.5, 1.0, 2.0, 0.5]), (4, 1)),
        num_draws=3000,
        config=SamplerConfig(num_chains=4, num_warmup=500),
    )
    draws = result.theta.reshape(-1, 4)
    low, high = mapping.low, mapping.high
    assert np.all(draws > low)
    assert np.all(draws < high)

    for index, component in enumerate(prior.components):
        mean, sd = _marginal_moments(component, OBSERVATION[index], low[index], high[index])
        # 12,000 correlated draws give an ESS of a few thousand, so the Monte Carlo error of
        # the mean is below sd / 30; 0.1 sd allows three of those.
        assert abs(draws[:, index].mean() - mean) < 0.1 * sd
        # The sd estimate's relative error is about 1 / sqrt(2 ESS), below 2%; 8% is four.
        assert abs(draws[:, index].std() - sd) < 0.08 * sd
