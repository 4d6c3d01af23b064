"""Fit the posterior of your own simulator with ssnl.

The model: a quantity decays exponentially, `A * exp(-k t)`, and is measured with Gaussian noise
(sd 0.05) at five times. Both parameters have box priors. Run it with

    python examples/custom_simulator.py

or fit the same task from the command line with

    ssnl fit --model examples/custom_simulator.py:make_task --rounds 2
"""

import distrax
import jax
import jax.numpy as jnp

import ssnl

TIMES = jnp.array([0.5, 1.0, 2.0, 3.0, 5.0])
NOISE_SD = 0.05


def simulate_decay(key, theta):
    """Simulate measurements of shape `(n, 5)` for parameters `(n, 2)` = (amplitude, rate)."""
    amplitude, rate = theta[:, :1], theta[:, 1:]
    mean = amplitude * jnp.exp(-rate * TIMES)
    return mean + NOISE_SD * jax.random.normal(key, mean.shape)


def make_task() -> ssnl.Task:
    """Build the decay task with observations from amplitude 1.2 and rate 0.4."""
    prior = distrax.Independent(
        distrax.Uniform(low=jnp.array([0.5, 0.1]), high=jnp.array([2.0, 1.0])), 1
    )
    observation = simulate_decay(jax.random.key(7), jnp.array([[1.2, 0.4]]))[0]
    return ssnl.Task("decay", prior, simulate_decay, observation)


if __name__ == "__main__":
    result = ssnl.fit(
        jax.random.key(0),
        make_task(),
        rounds=2,
        simulations_per_round=500,
        num_samples=2000,
        sampler=ssnl.SamplerConfig(num_chains=4),
    )
    print(result.summary().round(3))
    result.save("decay-results")
