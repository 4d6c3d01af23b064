"""Maps between a prior's support and the real line, used to run MCMC without bounds."""

from __future__ import annotations

from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["UnconstrainingMap", "prior_support", "make_unconstraining_map"]

_MULTIVARIATE_NORMALS = {
    "MultivariateNormalDiag",
    "MultivariateNormalTri",
    "MultivariateNormalFullCovariance",
    "MultivariateNormalDiagPlusLowRank",
    "MultivariateNormalLinearOperator",
}


def prior_support(prior: distrax.Distribution) -> tuple[np.ndarray, np.ndarray]:
    """Return per-coordinate bounds `(low, high)` of a prior's support, `inf` where unbounded.

    Recognised priors: `ssnl.priors.IndependentPrior`; an `Independent` (distrax or TensorFlow
    Probability) over uniform, normal, log-normal, gamma, half-Cauchy, beta and the other
    families of `ssnl.priors.family_support`; and multivariate normals.

    Raises:
        NotImplementedError: For a prior whose support ssnl cannot read off.
    """
    from ssnl.priors import IndependentPrior, family_support

    (theta_dim,) = prior.event_shape
    if isinstance(prior, IndependentPrior):
        return prior.support()
    names = {cls.__name__ for cls in type(prior).__mro__}
    if names & _MULTIVARIATE_NORMALS:
        infinite = np.full((theta_dim,), np.inf, dtype=np.float32)
        return -infinite, infinite.copy()

    base = prior.distribution if "Independent" in names else prior
    try:
        low, high = family_support(base)
    except NotImplementedError as error:
        raise NotImplementedError(
            f"{error} ssnl needs the support to sample the posterior without leaving it. Use "
            "ssnl.box_uniform(low, high) for a box prior or ssnl.IndependentPrior([...]) for "
            "independent components of known families."
        ) from None
    return (
        np.broadcast_to(low, (theta_dim,)).copy(),
        np.broadcast_to(high, (theta_dim,)).copy(),
    )


class UnconstrainingMap(NamedTuple):
    """Elementwise bijection from unconstrained `u` to parameters `theta` in `[low, high]`.

    Per coordinate: `theta = low + (high - low) * sigmoid(u)` when both bounds are finite,
    `theta = low + exp(u)` or `theta = high - exp(u)` when one is, and `theta = u` when neither
    is. `log_det_jacobian` returns `sum log|d theta / d u|`, which the MCMC target must add to
    stay the correct posterior density in `u`.

    Attributes:
        low: Lower bounds, shape `(theta_dim,)`, `-inf` where unbounded.
        high: Upper bounds, shape `(theta_dim,)`, `inf` where unbounded.
    """

    low: np.ndarray
    high: np.ndarray

    def _kinds(self):
        has_low = np.isfinite(self.low)
        has_high = np.isfinite(self.high)
        return has_low & has_high, has_low & ~has_high, ~has_low & has_high

    def forward(self, u: jax.Array) -> jax.Array:
        """Map `u` of shape `(..., theta_dim)` to the support."""
        box, lower_only, upper_only = self._kinds()
        low = jnp.where(np.isfinite(self.low), self.low, 0.0)
        high = jnp.where(np.isfinite(self.high), self.high, 0.0)
        theta = jnp.where(box, low + (high - low) * jax.nn.sigmoid(u), u)
        theta = jnp.where(lower_only, low + jnp.exp(u), theta)
        return jnp.where(upper_only, high - jnp.exp(u), theta)

    def inverse(self, theta: jax.Array) -> jax.Array:
        """Map parameters of shape `(..., theta_dim)` inside the support to `u`."""
        box, lower_only, upper_only = self._kinds()
        low = jnp.where(np.isfinite(self.low), self.low, 0.0)
        high = jnp.where(np.isfinite(self.high), self.high, 0.0)
        tiny = jnp.finfo(jnp.result_type(theta, jnp.float32)).tiny

        # Points on the boundary map to large finite values rather than +-inf.
        unit = jnp.clip((theta - low) / jnp.where(box, high - low, 1.0), 1e-7, 1.0 - 1e-7)
        u = jnp.where(box, jnp.log(unit) - jnp.log1p(-unit), theta)
        u = jnp.where(lower_only, jnp.log(jnp.maximum(theta - low, tiny)), u)
        return jnp.where(upper_only, jnp.log(jnp.maximum(high - theta, tiny)), u)

    def log_det_jacobian(self, u: jax.Array) -> jax.Array:
        """Return `sum log|d theta / d u|` over the last axis of `u`."""
        box, lower_only, upper_only = self._kinds()
        width = jnp.where(box, self.high - self.low, 1.0)
        box_term = jnp.log(width) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)
        terms = jnp.where(box, box_term, 0.0)
        terms = jnp.where(lower_only | upper_only, u, terms)
        return jnp.sum(terms, axis=-1)


def make_unconstraining_map(prior: distrax.Distribution) -> UnconstrainingMap:
    """Build the map from the real line to the support of `prior`."""
    low, high = prior_support(prior)
    if np.any(low >= high):
        bad = np.flatnonzero(low >= high).tolist()
        raise ValueError(f"The prior's support is empty in coordinates {bad}: low >= high.")
    return UnconstrainingMap(low, high)
