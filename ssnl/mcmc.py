"""Posterior sampling with BlackJAX NUTS in an unconstrained parameter space."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssnl.constraints import UnconstrainingMap

__all__ = ["SamplerConfig", "MCMCResult", "sample_posterior", "initial_positions"]

logger = logging.getLogger(__name__)

LogDensityFn = Callable[[jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Settings of the NUTS sampler.

    Attributes:
        num_chains: Number of chains run in parallel. Default 10.
        num_warmup: Window-adaptation steps per chain (step size and diagonal mass matrix).
            Default 300.
        thinning: Keep every `thinning`-th draw. Default 1.
        target_acceptance_rate: Target of the step-size adaptation. Default 0.8.
        max_num_doublings: Maximum tree depth of NUTS. Default 8.
        num_init_candidates: Prior draws scored by sampling-importance-resampling to pick the
            chains' starting points. Default 1000.
        num_progress_updates: Number of compiled blocks the draws are split into, so the
            progress bar can advance. Default 10.
    """

    num_chains: int = 10
    num_warmup: int = 300
    thinning: int = 1
    target_acceptance_rate: float = 0.8
    max_num_doublings: int = 8
    num_init_candidates: int = 1000
    num_progress_updates: int = 10

    def __post_init__(self):
        for name in ("num_chains", "num_warmup", "thinning", "max_num_doublings"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"SamplerConfig.{name} must be a positive integer, got {value!r}."
                )
        if not isinstance(self.num_init_candidates, int) or self.num_init_candidates < 1:
            raise ValueError(
                "SamplerConfig.num_init_candidates must be a positive integer, got "
                f"{self.num_init_candidates!r}."
            )
        if not 0 < self.target_acceptance_rate < 1:
            raise ValueError(
                "SamplerConfig.target_acceptance_rate must lie in (0, 1), got "
                f"{self.target_acceptance_rate}."
            )


class MCMCResult(NamedTuple):
    """Draws and per-draw statistics.

    Attributes:
        theta: Posterior draws, shape `(num_chains, num_draws, theta_dim)`.
        diverging: Whether the NUTS trajectory diverged, shape `(num_chains, num_draws)`.
        acceptance_rate: Mean Metropolis acceptance probability of the trajectory, shape
            `(num_chains, num_draws)`.
        step_size: Adapted step size per chain, shape `(num_chains,)`.
    """

    theta: np.ndarray
    diverging: np.ndarray
    acceptance_rate: np.ndarray
    step_size: np.ndarray


def initial_positions(
    key: jax.Array,
    candidates: jax.Array,
    log_weight_fn: LogDensityFn,
    num_chains: int,
) -> jax.Array:
    """Pick chain starting points by sampling-importance-resampling.

    Args:
        key: PRNG key.
        candidates: Draws from a proposal, shape `(num_candidates, theta_dim)`.
        log_weight_fn: Importance log-weight of one candidate (the log-likelihood when the
            candidates come from the prior).
        num_chains: Number of starting points.

    Returns:
        Starting points of shape `(num_chains, theta_dim)`, drawn with replacement with
        probability proportional to the weights.
    """
    log_weights = jax.lax.map(log_weight_fn, candidates, batch_size=256)
    log_weights = jnp.where(jnp.isnan(log_weights), -jnp.inf, log_weights)
    if not bool(jnp.any(jnp.isfinite(log_weights))):
        raise FloatingPointError(
            "Every initialisation candidate has zero posterior density; the estimated "
            "likelihood of the observation is zero everywhere under the prior."
        )
    index = jax.random.categorical(key, log_weights, shape=(num_chains,))
    return candidates[index]


def sample_posterior(
    key: jax.Array,
    log_density_fn: LogDensityFn,
    unconstraining_map: UnconstrainingMap,
    init_theta: jax.Array,
    *,
    num_draws: int,
    config: SamplerConfig = SamplerConfig(),
    progress: bool = False,
) -> MCMCResult:
    """Run NUTS chains on `log_density_fn` through `unconstraining_map`.

    The chains move in `u`, with `theta = unconstraining_map.forward(u)`, and target
    `log_density_fn(theta) + log|d theta / d u|`, so every draw lies inside the support. A NaN
    log density counts as -inf, which NUTS rejects.

    Args:
        key: PRNG key.
        log_density_fn: Unnormalised log posterior of one parameter vector `(theta_dim,)`.
        unconstraining_map: Map from the real line to the prior's support.
        init_theta: Starting points, shape `(num_chains, theta_dim)`, inside the support.
        num_draws: Draws kept per chain after thinning.
        config: Sampler settings; `config.num_chains` must match `init_theta`.
        progress: Whether to show a progress bar.

    Returns:
        Draws in the original parameter space and per-draw statistics.
    """
    if init_theta.shape[0] != config.num_chains:
        raise ValueError(
            f"init_theta has {init_theta.shape[0]} rows, expected one per chain "
            f"({config.num_chains})."
        )

    def target(u):
        log_density = log_density_fn(unconstraining_map.forward(u))
        log_density = log_density + unconstraining_map.log_det_jacobian(u)
        return jnp.where(jnp.isnan(log_density), -jnp.inf, log_density)

    warmup_key, draws_key = jax.random.split(key)
    init_u = unconstraining_map.inverse(jnp.asarray(init_theta))

    warmup = blackjax.window_adaptation(
        blackjax.nuts,
        target,
        target_acceptance_rate=config.target_acceptance_rate,
        max_num_doublings=config.max_num_doublings,
        adaptation_info_fn=blackjax.adaptation.base.get_filter_adapt_info_fn(),
    )

    @jax.jit
    def run_warmup(keys, positions):
        def one_chain(chain_key, position):
            (state, parameters), _ = warmup.run(chain_key, position, num_steps=config.num_warmup)
            return state, parameters

        return jax.vmap(one_chain)(keys, positions)

    with tqdm(total=1, desc="warmup", disable=not progress, leave=False) as bar:
        states, adapted = run_warmup(jax.random.split(warmup_key, config.num_chains), init_u)
        bar.update(1)
    parameters = {
        "step_size": adapted["step_size"],
        "inverse_mass_matrix": adapted["inverse_mass_matrix"],
    }

    def one_step(state, step_key, chain_parameters):
        kernel = blackjax.nuts(
            target, max_num_doublings=config.max_num_doublings, **chain_parameters
        )
        return kernel.step(step_key, state)

    num_steps = num_draws * config.thinning
    num_blocks = max(1, min(config.num_progress_updates, num_draws))
    draws_per_block = math.ceil(num_draws / num_blocks)

    @jax.jit
    def run_block(block_key, states):
        def scan_step(states, step_key):
            keys = jax.random.split(step_key, config.num_chains)
            states, info = jax.vmap(one_step)(states, keys, parameters)
            return states, (states.position, info.is_divergent, info.acceptance_rate)

        keys = jax.random.split(block_key, draws_per_block * config.thinning)
        states, (positions, diverging, acceptance) = jax.lax.scan(scan_step, states, keys)
        keep = slice(config.thinning - 1, None, config.thinning)
        return states, (positions[keep], diverging[keep], acceptance[keep])

    blocks = []
    with tqdm(total=num_steps, desc="sample", disable=not progress, leave=False) as bar:
        for block in range(num_blocks):
            states, outputs = run_block(jax.random.fold_in(draws_key, block), states)
            blocks.append(jax.device_get(outputs))
            bar.update(draws_per_block * config.thinning)

    # Scan stacks draws first; the results use ArviZ's (chain, draw) order.
    positions, diverging, acceptance = (
        np.concatenate([block[i] for block in blocks], axis=0)[:num_draws].swapaxes(0, 1)
        for i in range(3)
    )
    theta = np.asarray(unconstraining_map.forward(positions))
    return MCMCResult(
        theta=theta,
        diverging=diverging.astype(bool),
        acceptance_rate=acceptance.astype(np.float32),
        step_size=np.asarray(parameters["step_size"]),
    )
