import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssnl.constraints import UnconstrainingMap
from ssnl.diagnostics import hdi, summarize
from ssnl.mcmc import SamplerConfig, initial_positions, sample_posterior

UNIT_BOX = UnconstrainingMap(np.zeros(1, np.float32), np.ones(1, np.float32))


def _exact_moments_on_unit_interval(log_density_fn):
    grid = np.linspace(0.0, 1.0, 200_001)
    density = np.exp(log_density_fn(grid) - log_density_fn(grid).max())
    density /= np.trapezoid(density, grid)
    mean = np.trapezoid(grid * density, grid)
    sd = np.sqrt(np.trapezoid((grid - mean) ** 2 * density, grid))
    return mean, sd


def test_bounded_posterior_matches_quadrature():
    # theta ~ U(0, 1), y ~ N(theta, 0.05^2), y_o = 0.98: the posterior is a normal truncated to
    # [0, 1]; quadrature gives mean 0.952 and sd 0.034.
    def log_density(theta):
        return -0.5 * jnp.sum(((0.98 - theta) / 0.05) ** 2)

    config = SamplerConfig(num_chains=4, num_warmup=300)
    result = sample_posterior(
        jax.random.key(0),
        log_density,
        UNIT_BOX,
        jnp.full((4, 1), 0.5),
        num_draws=2500,
        config=config,
    )
    mean, sd = _exact_moments_on_unit_interval(lambda t: -0.5 * ((0.98 - t) / 0.05) ** 2)

    assert result.theta.shape == (4, 2500, 1)
    assert np.all((result.theta > 0.0) & (result.theta < 1.0))
    # Monte Carlo error of the mean with an ESS of a few thousand is sd / sqrt(ESS) ~ 0.001;
    # 0.004 allows four such errors.
    assert abs(result.theta.mean() - mean) < 0.004
    assert abs(mean - 0.952) < 0.001
    # The sd of the sd estimate is about sd / sqrt(2 ESS) ~ 0.0005; 0.003 is six of them.
    assert abs(result.theta.std() - sd) < 0.003
    assert abs(sd - 0.034) < 0.001
    assert result.diverging.shape == (4, 2500)
    assert result.acceptance_rate.mean() > 0.6


def test_chains_keep_their_own_draws():
    # Two well-separated modes: a chain started in one mode stays there, so the draws of each
    # chain must lie on one side. Swapped chain and draw axes would mix the sides.
    mapping = UnconstrainingMap(np.full(1, -np.inf, np.float32), np.full(1, np.inf, np.float32))

    def log_density(theta):
        return jnp.logaddexp(
            -0.5 * jnp.sum(((theta - 10.0) / 0.3) ** 2),
            -0.5 * jnp.sum(((theta + 10.0) / 0.3) ** 2),
        )

    init = jnp.array([[10.0], [-10.0], [10.0]])
    result = sample_posterior(
        jax.random.key(1),
        log_density,
        mapping,
        init,
        num_draws=200,
        config=SamplerConfig(num_chains=3, num_warmup=100),
    )
    signs = np.sign(result.theta[..., 0])
    np.testing.assert_array_equal(signs, np.array([1.0, -1.0, 1.0])[:, None] * np.ones((3, 200)))


def test_thinning_keeps_requested_draws():
    result = sample_posterior(
        jax.random.key(2),
        lambda theta: -0.5 * jnp.sum(((theta - 0.5) / 0.1) ** 2),
        UNIT_BOX,
        jnp.full((2, 1), 0.5),
        num_draws=30,
        config=SamplerConfig(num_chains=2, num_warmup=50, thinning=3),
    )
    assert result.theta.shape == (2, 30, 1)


def test_init_count_must_match_chains():
    with pytest.raises(ValueError, match="one per chain"):
        sample_posterior(
            jax.random.key(0),
            lambda theta: -jnp.sum(theta**2),
            UNIT_BOX,
            jnp.full((3, 1), 0.5),
            num_draws=10,
            config=SamplerConfig(num_chains=2),
        )


def test_resampling_prefers_high_weight():
    candidates = jnp.array([[0.1], [0.5], [0.9]])

    def log_weight(theta):
        return jnp.where(theta[0] > 0.4, jnp.where(theta[0] < 0.6, 0.0, -jnp.inf), -jnp.inf)

    starts = initial_positions(jax.random.key(0), candidates, log_weight, 5)
    np.testing.assert_array_equal(starts, np.full((5, 1), 0.5))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resampling_counts_follow_weights(seed):
    # Six candidates of weight 2/18 and six of weight 1/18 have an effective sample size of
    # 10.8, above the 6 chains, so no tempering applies. Systematic resampling then starts
    # 6 * 12/18 = 4 chains in the first group and 2 in the second, whatever the key.
    candidates = jnp.linspace(0.0, 1.0, 12)[:, None]

    def log_weight(theta):
        return jnp.where(theta[0] < 0.5, jnp.log(2.0), 0.0)

    starts = np.asarray(initial_positions(jax.random.key(seed), candidates, log_weight, 6))

    assert np.sum(starts[:, 0] < 0.5) == 4
    assert np.sum(starts[:, 0] > 0.5) == 2


def test_resampling_spreads_peaked_weights_over_modes():
    # Two narrow modes at -0.5 and +0.5 of nearly equal mass. The grid hits +0.5 exactly but
    # misses -0.5 by 0.001, so without tempering the single point at +0.5 carries a weight
    # e^1000 times larger than any other, and every chain would start there.
    candidates = jnp.asarray(np.concatenate([np.linspace(-1.0, 1.0, 401) + 0.001, [0.5]]))[:, None]

    def log_weight(theta):
        return -1e6 * (jnp.abs(theta[0]) - 0.5) ** 2

    starts = np.asarray(initial_positions(jax.random.key(0), candidates, log_weight, 10))

    assert np.sum(starts[:, 0] < 0) >= 2
    assert np.sum(starts[:, 0] > 0) >= 2
    # Every start stays close to a mode: tempering only spreads weight far enough to reach an
    # effective sample size of 10 candidates.
    assert np.all(np.abs(np.abs(starts[:, 0]) - 0.5) < 0.1)


def test_resampling_rejects_all_zero_weights():
    with pytest.raises(FloatingPointError, match="zero posterior density"):
        initial_positions(
            jax.random.key(0), jnp.zeros((4, 1)), lambda theta: -jnp.inf * jnp.ones(()), 2
        )


def test_hdi_of_uniform_grid():
    low, high = hdi(np.linspace(0.0, 1.0, 10_001), prob=0.5)
    # Every interval of width 0.5 is shortest for a uniform sample; the width is exact.
    assert high - low == pytest.approx(0.5, abs=1e-4)


def test_summary_columns_and_values():
    draws = np.random.default_rng(0).normal(2.0, 0.5, size=(4, 1000, 2))
    table = summarize(draws)
    assert list(table.columns) == [
        "mean",
        "sd",
        "hdi_3%",
        "hdi_97%",
        "ess_bulk",
        "ess_tail",
        "r_hat",
    ]
    # Independent draws: mean within 4 standard errors (0.5 / sqrt(4000) ~ 0.008).
    np.testing.assert_allclose(table["mean"], 2.0, atol=0.032)
    # R-hat of independent chains is 1 up to about 0.01 with 1,000 draws per chain.
    assert np.all(table["r_hat"] < 1.01)
    assert np.all(table["ess_bulk"] > 3000)


def test_narrow_likelihood_chains_converge():
    # y ~ N(theta, 0.01^2 I) under U(-2, 2)^3: the posterior occupies about 1e-6 of the prior
    # volume, so chains must start from importance-resampled prior draws to find it.
    mapping = UnconstrainingMap(np.full(3, -2.0, np.float32), np.full(3, 2.0, np.float32))
    observation = jnp.array([0.4, -1.1, 1.7])

    def log_likelihood(theta):
        return -0.5 * jnp.sum(((observation - theta) / 0.01) ** 2)

    candidates = jax.random.uniform(jax.random.key(0), (1000, 3), minval=-2.0, maxval=2.0)
    starts = initial_positions(jax.random.key(1), candidates, log_likelihood, 4)
    result = sample_posterior(
        jax.random.key(2),
        log_likelihood,
        mapping,
        starts,
        num_draws=1000,
        config=SamplerConfig(num_chains=4),
    )
    table = summarize(result.theta)
    assert np.all(table["r_hat"] <= 1.01)
    # The posterior is N(y_o, 0.01^2 I) up to truncation far away; ESS of about 1,000 bounds
    # the Monte Carlo error of each mean by 0.01 / sqrt(1000) ~ 3e-4, and 0.0015 is five.
    np.testing.assert_allclose(table["mean"], observation, atol=0.0015)


@pytest.mark.parametrize(
    "algorithm", ["mala", "rwm", "slice", blackjax.mala, blackjax.normal_random_walk]
)
def test_other_algorithms_match_quadrature(algorithm):
    # Same truncated-normal posterior as above (mean 0.952, sd 0.034). These samplers mix more
    # slowly than NUTS, so thinning by 5 keeps the draws nearly independent, and the tolerances
    # are twice those of the NUTS test.
    def log_density(theta):
        return -0.5 * jnp.sum(((0.98 - theta) / 0.05) ** 2)

    config = SamplerConfig(algorithm=algorithm, num_chains=4, num_warmup=500, thinning=5)
    result = sample_posterior(
        jax.random.key(3),
        log_density,
        UNIT_BOX,
        jnp.full((4, 1), 0.5),
        num_draws=2000,
        config=config,
    )
    assert np.all((result.theta > 0.0) & (result.theta < 1.0))
    assert abs(result.theta.mean() - 0.952) < 0.008
    assert abs(result.theta.std() - 0.034) < 0.006
    assert not result.diverging.any()


def test_unknown_algorithm_rejected():
    with pytest.raises(ValueError, match="'hmc'"):
        SamplerConfig(algorithm="hmc")


def test_arviz_accepts_more_chains_than_draws():
    from ssnl.diagnostics import to_arviz

    theta = np.zeros((12, 3, 2))
    data = to_arviz(theta, np.zeros((12, 3)), np.ones((12, 3)), np.zeros(4))
    assert data["posterior"]["theta"].shape == (12, 3, 2)


def _shifted_normal(theta, center):
    return -0.5 * jnp.sum(((theta - center) / 0.1) ** 2)


def test_new_target_arguments_reuse_compiled_programs(caplog):
    config = SamplerConfig(num_chains=2, num_warmup=20)

    def run(center, num_draws):
        return sample_posterior(
            jax.random.key(4),
            _shifted_normal,
            UNIT_BOX,
            jnp.full((2, 1), 0.5),
            num_draws=num_draws,
            config=config,
            log_density_args=(jnp.array([center]),),
        )

    run(0.3, 20)
    with jax.log_compiles(), caplog.at_level("WARNING"):
        result = run(0.7, 50)
    compiled = [r.getMessage() for r in caplog.records if "Compiling jit(run_" in r.getMessage()]

    assert compiled == []
    # The draws follow the new argument: N(0.7, 0.1^2) restricted to [0, 1], so their mean is
    # within a few Monte Carlo errors (0.1 / sqrt(100) = 0.01) of 0.7.
    assert abs(result.theta.mean() - 0.7) < 0.05
