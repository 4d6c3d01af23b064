"""Truncated normal sampling in float32 JAX that stays accurate far in the tails.

`jax.random.truncated_normal` (jax 0.10.2) inverts the CDF through `erf`, whose float32 values
lose their precision near -1 and 1. Its draws on [5, 8] have mean 5.32 instead of 5.19, and on
[10, 12] they all equal the upper bound. Here the bounds are mirrored to the lower tail, where
`log_ndtr` keeps full relative precision, and the CDF is inverted in log space.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtri

__all__ = ["log_standard_normal_mass", "sample_truncated_normal"]

# Below this log probability exp(log_p) is no longer a normal float32, so `ndtri` is not used.
_MIN_DIRECT_LOG_PROBABILITY = -80.0
_TAIL_ITERATIONS = 4
_HALF_LOG_2PI = float(0.5 * np.log(2.0 * np.pi))


def _mirror_to_lower_tail(low: jax.Array, high: jax.Array):
    """Mirror standardized bounds so that low + high <= 0.

    After the mirror, most of the interval's mass lies below 0, where the float32 CDF has full
    relative precision. Returns the mirror flag and the new bounds.
    """
    mirrored = low + high > 0
    return mirrored, jnp.where(mirrored, -high, low), jnp.where(mirrored, -low, high)


def log_standard_normal_mass(low: jax.Array, high: jax.Array) -> jax.Array:
    """Compute log P(low < Z < high) for Z ~ N(0, 1), elementwise, for finite low < high."""
    _, low, high = _mirror_to_lower_tail(low, high)
    log_cdf_low = log_ndtr(low)
    log_cdf_high = log_ndtr(high)
    return log_cdf_high + jnp.log1p(-jnp.exp(log_cdf_low - log_cdf_high))


def _inverse_log_ndtr(log_p: jax.Array) -> jax.Array:
    """Return x with log Phi(x) = log_p, for finite log_p <= 0.

    Where exp(log_p) is a normal float32, `ndtri` inverts it directly. Further in the tail,
    x < -12.6, the asymptotic series

        log Phi(x) = -x^2 / 2 - log(-x) - log(2 pi) / 2 + log(1 - 1/x^2 + 3/x^4 - 15/x^6 + ...)

    is solved for x by fixed-point iteration. The terms left out change log Phi by less than
    105 / x^8, about 2e-7 at x = -12.6. Each iteration shrinks the error by a factor of about
    1 / x^2, so a few iterations reach float32 precision.
    """
    direct = ndtri(jnp.exp(jnp.maximum(log_p, _MIN_DIRECT_LOG_PROBABILITY)))

    tail_log_p = jnp.minimum(log_p, _MIN_DIRECT_LOG_PROBABILITY)
    x = -jnp.sqrt(-2.0 * tail_log_p)
    for _ in range(_TAIL_ITERATIONS):
        inverse_square = 1.0 / x**2
        series = 1.0 - inverse_square * (1.0 - inverse_square * (3.0 - 15.0 * inverse_square))
        x = -jnp.sqrt(-2.0 * (tail_log_p + jnp.log(-x) + _HALF_LOG_2PI - jnp.log(series)))

    return jnp.where(log_p > _MIN_DIRECT_LOG_PROBABILITY, direct, x)


@functools.partial(jax.jit, static_argnames="shape")
def sample_truncated_normal(
    key: jax.Array,
    loc: jax.Array,
    scale: jax.Array,
    low: jax.Array,
    high: jax.Array,
    shape: tuple[int, ...],
) -> jax.Array:
    """Draw from N(loc, scale^2) truncated to [low, high] by inverting the CDF.

    The arguments broadcast to `shape`. The bounds must be finite with low < high. In
    standardized units the uniform draw u in [Phi(a), Phi(b)] is formed in log space as

        log u = log Phi(b) + log(exp(log Phi(a) - log Phi(b)) + U (1 - Phi(a) / Phi(b))),

    after mirroring the bounds so that a + b <= 0.

    NOTE: Above 0 after the mirror, u is close to 1 and float32 rounding of u limits the
    accuracy. The error in standard deviations is about 1e-6 at 2, 3e-4 at 4 and 2e-2 at 5,
    and draws beyond about 5.3 come back clipped to the upper bound. N(0, 1) puts only 3e-5
    of its mass above 4.

    Returns:
        Float32 samples of shape `shape`, inside [low, high].
    """
    loc = jnp.asarray(loc, dtype=jnp.float32)
    scale = jnp.asarray(scale, dtype=jnp.float32)
    low = jnp.broadcast_to(jnp.asarray(low, dtype=jnp.float32), shape)
    high = jnp.broadcast_to(jnp.asarray(high, dtype=jnp.float32), shape)

    standard_low = (low - loc) / scale
    standard_high = (high - loc) / scale
    mirrored, lower, upper = _mirror_to_lower_tail(standard_low, standard_high)

    log_cdf_lower = log_ndtr(lower)
    log_cdf_upper = log_ndtr(upper)
    log_ratio = log_cdf_lower - log_cdf_upper
    uniform = jax.random.uniform(key, shape, dtype=jnp.float32)
    log_u = log_cdf_upper + jnp.logaddexp(
        log_ratio, jnp.log(uniform) + jnp.log1p(-jnp.exp(log_ratio))
    )

    standard_sample = _inverse_log_ndtr(log_u)
    standard_sample = jnp.where(mirrored, -standard_sample, standard_sample)
    return jnp.clip(loc + scale * standard_sample, low, high)
