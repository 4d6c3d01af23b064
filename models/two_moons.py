"""Two moons benchmark task, as defined in sbibm.

Two parameters have independent U(-1, 1) priors. One simulation draws an angle
a ~ U(-pi/2, pi/2) and a radius r ~ N(0.1, 0.01^2), forms the point on a half circle

    p = (r cos(a) + 0.25, r sin(a)),

rotates theta by -pi/4,

    z_0 = (theta_0 + theta_1) / sqrt(2),  z_1 = (theta_1 - theta_0) / sqrt(2),

and returns x = p + (-|z_0|, z_1). The absolute value makes theta and its mirror image across
the line theta_0 = -theta_1 produce the same data, so the posterior has two crescent-shaped
modes.

The definition was checked against `sbibm/tasks/two_moons/task.py` in sbibm 1.1.0
(github.com/sbi-benchmark/sbibm), whose `_map_fun` applies the same rotation with
cos(-pi/4) and sin(-pi/4).

The task ships an exact reference sampler. Given x, a parameter theta is consistent with the
moon point p exactly when |z_0| = p_0 - x_0 and z_1 = x_1 - p_1, and the rotation has unit
Jacobian. So the posterior is drawn by sampling p from its distribution, rejecting it when
p_0 < x_0, choosing the sign of z_0 with probability 1/2 each, rotating back, and rejecting
theta outside the prior box. sbibm draws its reference samples in the same way but keeps
proposals with p_0 < x_0 under a random sign. That gives the same distribution whenever
x_0 <= 0.25, since p_0 >= 0.25 up to rounding for r > 0, and all ten sbibm observations have
x_0 < 0.2. The default observation of this task has x_0 = 0.30, where the two differ.

The default observation is drawn with JAX's random number generator, so it differs from the
observations published with sbibm.
"""

from __future__ import annotations

import functools
import math
import operator

import distrax
import jax
import jax.numpy as jnp
import numpy as np

from models._observation import check_theta, draw_observation
from ssnl.task import Task

__all__ = [
    "ANGLE_HIGH",
    "ANGLE_LOW",
    "BASE_OFFSET",
    "DATA_DIM",
    "DEFAULT_OBSERVATION_SEED",
    "NAME",
    "PRIOR_HIGH",
    "PRIOR_LOW",
    "RADIUS_MEAN",
    "RADIUS_STD",
    "THETA_DIM",
    "make_prior",
    "make_task",
    "sample_reference_posterior",
    "simulate",
    "true_parameters",
]

NAME = "two_moons"
THETA_DIM = 2
DATA_DIM = 2
PRIOR_LOW = -1.0
PRIOR_HIGH = 1.0
ANGLE_LOW = -math.pi / 2.0
ANGLE_HIGH = math.pi / 2.0
RADIUS_MEAN = 0.1
RADIUS_STD = 0.01
BASE_OFFSET = 0.25

DEFAULT_OBSERVATION_SEED = 0
"""Seed for `jax.random.key` from which `get_task("two_moons")` draws its observation."""

# Rotation of theta by -pi/4: z = [[c, -s], [s, c]] theta with c = cos(-pi/4), s = sin(-pi/4).
_COS = np.float32(math.cos(-math.pi / 4.0))
_SIN = np.float32(math.sin(-math.pi / 4.0))

# Proposals per round of the reference sampler. The rounds have a fixed size so that the
# proposal function compiles once.
_PROPOSAL_BATCH_SIZE = 65_536
_MAX_PROPOSAL_ROUNDS = 1_000


def make_prior() -> distrax.Distribution:
    """Build the prior U(-1, 1)^2 over theta, event shape `(2,)`."""
    return distrax.Independent(
        distrax.Uniform(
            low=jnp.full(THETA_DIM, PRIOR_LOW, dtype=jnp.float32),
            high=jnp.full(THETA_DIM, PRIOR_HIGH, dtype=jnp.float32),
        ),
        reinterpreted_batch_ndims=1,
    )


def _sample_moon(key: jax.Array, num_points: int) -> tuple[jax.Array, jax.Array]:
    """Draw points p on the noisy half circle, returned as the coordinates (p_0, p_1)."""
    angle_key, radius_key = jax.random.split(key)
    angle = jax.random.uniform(
        angle_key, (num_points,), dtype=jnp.float32, minval=ANGLE_LOW, maxval=ANGLE_HIGH
    )
    radius = RADIUS_MEAN + RADIUS_STD * jax.random.normal(
        radius_key, (num_points,), dtype=jnp.float32
    )
    return radius * jnp.cos(angle) + BASE_OFFSET, radius * jnp.sin(angle)


def simulate(key: jax.Array, theta: jax.Array) -> jax.Array:
    """Simulate x = p + (-|z_0|, z_1) for each row of `theta`.

    Args:
        key: JAX random key.
        theta: Parameters, shape `(num_simulations, 2)`.

    Returns:
        Float32 data, shape `(num_simulations, 2)`.

    Raises:
        ValueError: If `theta` does not have shape `(num_simulations, 2)`.
    """
    theta = jnp.asarray(theta, dtype=jnp.float32)
    check_theta(theta, THETA_DIM, NAME)

    z_0 = _COS * theta[:, 0] - _SIN * theta[:, 1]
    z_1 = _SIN * theta[:, 0] + _COS * theta[:, 1]
    moon_0, moon_1 = _sample_moon(key, theta.shape[0])
    return jnp.stack([moon_0 - jnp.abs(z_0), moon_1 + z_1], axis=1)


@functools.partial(jax.jit, static_argnames="num_proposals")
def _propose_posterior(
    key: jax.Array, observation: jax.Array, num_proposals: int
) -> tuple[jax.Array, jax.Array]:
    """Propose posterior samples and flag the accepted ones.

    Returns the proposals, shape `(num_proposals, 2)`, and a boolean mask of those that have
    p_0 >= x_0 and lie inside the prior box.
    """
    moon_key, sign_key = jax.random.split(key)
    moon_0, moon_1 = _sample_moon(moon_key, num_proposals)

    abs_z_0 = moon_0 - observation[0]
    sign = jnp.where(jax.random.bernoulli(sign_key, 0.5, (num_proposals,)), 1.0, -1.0)
    z_0 = sign * abs_z_0
    z_1 = observation[1] - moon_1

    # The inverse rotation is the transpose: theta = [[c, s], [-s, c]] z.
    theta = jnp.stack([_COS * z_0 + _SIN * z_1, -_SIN * z_0 + _COS * z_1], axis=1)

    inside_prior = jnp.all((theta >= PRIOR_LOW) & (theta <= PRIOR_HIGH), axis=1)
    return theta, (abs_z_0 >= 0.0) & inside_prior


def sample_reference_posterior(
    key: jax.Array, observation: np.ndarray | jax.Array, num_samples: int
) -> jax.Array:
    """Draw exact posterior samples for one observation by rejection.

    Args:
        key: JAX random key.
        observation: Observed data x, shape `(2,)`.
        num_samples: Number of samples, at least 1.

    Returns:
        Float32 samples, shape `(num_samples, 2)`, all inside [-1, 1]^2.

    Raises:
        ValueError: If `observation` does not have shape `(2,)` or is not finite, or if
            `num_samples` is below 1.
        RuntimeError: If fewer than `num_samples` proposals are accepted in 1000 rounds of
            65536. That happens only when the posterior has almost no mass inside the prior
            box, for example for x_0 > 0.4, which needs a radius 5 standard deviations above
            its mean.
    """
    observation = jnp.asarray(observation, dtype=jnp.float32)
    if observation.shape != (DATA_DIM,):
        raise ValueError(
            f"{NAME} reference posterior: observation must have shape ({DATA_DIM},), got "
            f"shape {tuple(observation.shape)}."
        )
    if not bool(jnp.all(jnp.isfinite(observation))):
        raise ValueError(f"{NAME} reference posterior: observation must be finite.")
    num_samples = operator.index(num_samples)
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}.")

    accepted = []
    num_accepted = 0
    for _ in range(_MAX_PROPOSAL_ROUNDS):
        key, round_key = jax.random.split(key)
        proposals, accept = _propose_posterior(round_key, observation, _PROPOSAL_BATCH_SIZE)
        batch = np.asarray(proposals)[np.asarray(accept)]
        accepted.append(batch)
        num_accepted += batch.shape[0]
        if num_accepted >= num_samples:
            return jnp.asarray(np.concatenate(accepted)[:num_samples])

    num_proposals = _MAX_PROPOSAL_ROUNDS * _PROPOSAL_BATCH_SIZE
    raise RuntimeError(
        f"{NAME} reference posterior: accepted only {num_accepted} of {num_proposals} "
        f"proposals for observation {np.asarray(observation).tolist()}, fewer than the "
        f"{num_samples} requested. The posterior has almost no mass inside the prior box."
    )


def _make_reference_sampler(observation: np.ndarray):
    def reference_sampler(key: jax.Array, num_samples: int) -> jax.Array:
        """Draw exact posterior samples, shape `(num_samples, 2)`, float32."""
        return sample_reference_posterior(key, observation, num_samples)

    return reference_sampler


def true_parameters(seed: int = DEFAULT_OBSERVATION_SEED) -> np.ndarray:
    """Return the parameters that generated the observation for `seed`, shape `(2,)`."""
    theta, _ = draw_observation(make_prior(), simulate, seed)
    return theta


def make_task(observation_seed: int = DEFAULT_OBSERVATION_SEED) -> Task:
    """Build the two moons task with an exact reference sampler.

    The observation is drawn as follows: split `jax.random.key(observation_seed)` into a prior
    key and a simulator key, draw theta from the prior with the first, and simulate once from
    theta with the second. `true_parameters(observation_seed)` returns that theta. The default
    seed is `DEFAULT_OBSERVATION_SEED` (0).

    Args:
        observation_seed: Integer seed for the observation.

    Returns:
        The task, with `theta_dim` 2 and `data_dim` 2.
    """
    prior = make_prior()
    _, observation = draw_observation(prior, simulate, observation_seed)
    return Task(
        name=NAME,
        prior=prior,
        simulator=simulate,
        observation=observation,
        reference_sampler=_make_reference_sampler(observation),
    )
