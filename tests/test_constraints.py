import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorflow_probability.substrates import jax as tfp

import ssnl

tfd = tfp.distributions


def _box_prior():
    return distrax.Independent(
        distrax.Uniform(low=jnp.array([-3.0, 0.0]), high=jnp.array([3.0, 0.5])), 1
    )


def test_support_of_box_prior():
    low, high = ssnl.prior_support(_box_prior())
    np.testing.assert_array_equal(low, [-3.0, 0.0])
    np.testing.assert_array_equal(high, [3.0, 0.5])


def test_support_of_normal_prior():
    prior = distrax.MultivariateNormalDiag(jnp.zeros(3), jnp.ones(3))
    low, high = ssnl.prior_support(prior)
    assert np.all(np.isneginf(low))
    assert np.all(np.isposinf(high))


def test_unknown_prior_rejected():
    prior = distrax.Independent(distrax.VonMises(jnp.zeros(2), jnp.ones(2)), 1)
    with pytest.raises(NotImplementedError, match="VonMises"):
        ssnl.prior_support(prior)


def test_support_of_independent_gamma():
    prior = distrax.Independent(distrax.Gamma(jnp.ones(2), jnp.ones(2)), 1)
    low, high = ssnl.prior_support(prior)
    np.testing.assert_array_equal(low, [0.0, 0.0])
    assert np.all(np.isposinf(high))


def test_tensorflow_probability_prior_wrapped():
    prior = tfd.Independent(tfd.Beta(jnp.full(3, 2.0), jnp.full(3, 3.0)), 1)
    task = ssnl.Task("beta", prior, lambda key, theta: theta, [0.1, 0.2, 0.3])
    low, high = ssnl.prior_support(task.prior)
    np.testing.assert_array_equal(low, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(high, [1.0, 1.0, 1.0])
    assert task.theta_dim == 3


@pytest.mark.parametrize(
    "low, high",
    [
        ([-3.0, 0.0, -np.inf, -np.inf], [3.0, 0.5, np.inf, 1.0]),
        ([2.0, -1.0, 0.0, -5.0], [np.inf, 1.0, 1.0, 5.0]),
    ],
)
def test_map_round_trip_and_log_det(low, high):
    mapping = ssnl.UnconstrainingMap(np.array(low, np.float32), np.array(high, np.float32))
    u = jax.random.normal(jax.random.key(0), (16, 4))
    theta = mapping.forward(u)

    assert np.all(theta > np.array(low))
    assert np.all(theta < np.array(high))
    # The float32 sigmoid flattens away from 0, so the round trip loses digits; 1e-4 covers the
    # standard normal u drawn here.
    np.testing.assert_allclose(mapping.inverse(theta), u, atol=1e-4)

    for row in u:
        jacobian = jax.jacfwd(mapping.forward)(row)
        expected = jnp.linalg.slogdet(jacobian)[1]
        # The Jacobian is diagonal, so float32 rounding of a sum of four logs bounds the error.
        np.testing.assert_allclose(mapping.log_det_jacobian(row), expected, atol=1e-5)


def test_map_inverse_on_boundary_is_finite():
    mapping = ssnl.make_unconstraining_map(_box_prior())
    u = mapping.inverse(jnp.array([[-3.0, 0.5]]))
    assert np.all(np.isfinite(u))
