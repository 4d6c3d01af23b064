"""The rounds of surjective sequential neural likelihood estimation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

import surjectors_core
from ssnl import diagnostics
from ssnl.checkpoint import (
    check_settings,
    load_checkpoint,
    load_simulations,
    save_round,
    save_simulations,
    write_settings,
)
from ssnl.constraints import make_unconstraining_map
from ssnl.mcmc import MCMCResult, SamplerConfig, initial_positions, sample_posterior
from ssnl.simulate import _remove_invalid, simulate
from ssnl.standardize import Standardizer, fit_standardizer
from ssnl.task import Task
from ssnl.train import TrainingConfig, train

__all__ = ["FlowConfig", "RoundRecord", "FitResult", "fit", "default_latent_widths"]

logger = logging.getLogger(__name__)

# R-hat above this after the last round triggers a warning. Well-mixed chains give values below
# 1.01, so 1.05 flags only clear failures to mix.
_MAX_RHAT_WARNING = 1.05

# A total bulk ESS below this after the last round triggers the same warning: with fewer
# effective draws, the Monte Carlo error of a posterior mean exceeds 1 / sqrt(400) = 5% of the
# posterior sd.
_MIN_ESS_WARNING = 400

# A share of divergent NUTS transitions among the final draws above this triggers a warning.
# A few isolated divergences are common on learned likelihoods. More than 1% suggest a step
# size too large for some region of the posterior, so the draws under-sample that region.
_MAX_DIVERGENT_SHARE = 0.01

# An observation coordinate more than this many standard deviations from the mean of the
# first round's simulations triggers a warning.
_OBSERVATION_Z_WARNING = 5.0


def default_latent_widths(data_dim: int) -> tuple[int, ...]:
    """Return the default funnel widths: one funnel keeping 75% of the data dimensions.

    The published SSNL experiments reduce to between 25% and 75% of the data dimension. The
    mildest reduction is the default because it loses the least on low-dimensional data. Data
    with fewer than 4 dimensions get a bijective flow.
    """
    if data_dim < 4:
        return ()
    return (math.ceil(0.75 * data_dim),)


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """Architecture of the conditional density estimator q(y | theta).

    Attributes:
        latent_widths: Widths of the dimension-reducing layers, strictly decreasing and below
            the data dimension; `()` gives a bijective flow (SNLE). None chooses
            `default_latent_widths(data_dim)`.
        hidden_sizes: Hidden layer sizes of every MADE and decoder network. Default (50, 50).
        num_layers_per_stage: Masked autoregressive layers at each width. Default 2.
    """

    latent_widths: Sequence[int] | None = None
    hidden_sizes: Sequence[int] = (50, 50)
    num_layers_per_stage: int = 2

    def resolve_widths(self, data_dim: int) -> tuple[int, ...]:
        """Return the latent widths for `data_dim`, checked."""
        if self.latent_widths is None:
            widths = default_latent_widths(data_dim)
        else:
            widths = tuple(self.latent_widths)
        surjectors_core.validate_latent_widths(data_dim, widths)
        return widths


@dataclasses.dataclass(frozen=True)
class RoundRecord:
    """Statistics and timings of one round.

    Attributes:
        round: Round number, starting at 1.
        num_simulations: Simulations added in this round.
        total_simulations: Size of the pool the estimator was trained on.
        train_loss: Training loss (mean negative log-likelihood of standardised data) at the
            best epoch. The pool is standardised anew each round, so losses of different
            rounds are not comparable.
        validation_loss: Best validation loss.
        epochs: Epochs trained.
        simulate_seconds: Wall time of the simulator calls.
        train_seconds: Wall time of training, compilation included.
        sample_seconds: Wall time of MCMC, compilation included.
        max_rhat: Largest R-hat over the parameters.
        min_ess: Smallest bulk effective sample size over the parameters.
        divergences: Number of divergent NUTS transitions among the kept draws.
        invalid_simulations: Simulations of this round dropped for NaN or Inf (only with
            `exclude_invalid=True`).
    """

    round: int
    num_simulations: int
    total_simulations: int
    train_loss: float
    validation_loss: float
    epochs: int
    simulate_seconds: float
    train_seconds: float
    sample_seconds: float
    max_rhat: float
    min_ess: float
    divergences: int
    invalid_simulations: int = 0


@dataclasses.dataclass
class FitResult:
    """Outcome of `fit`.

    Attributes:
        inference_data: ArviZ data of the final posterior (groups `posterior`, `sample_stats`,
            `observed_data`); an `InferenceData` with ArviZ 0.x, a `DataTree` with ArviZ 1.x.
        rounds: One record per round.
        theta: All simulated parameters, shape `(total_simulations, theta_dim)`.
        y: All simulated data, shape `(total_simulations, data_dim)`.
        params: Haiku parameters of the last round's density estimator.
        theta_standardizer: Z-scoring of parameters used by the estimator.
        y_standardizer: Z-scoring of data used by the estimator.
        latent_widths: Funnel widths of the estimator.
    """

    inference_data: Any
    rounds: list[RoundRecord]
    theta: np.ndarray
    y: np.ndarray
    params: Any
    theta_standardizer: Standardizer
    y_standardizer: Standardizer
    latent_widths: tuple[int, ...]

    @property
    def samples(self) -> np.ndarray:
        """Posterior draws with chains pooled, shape `(num_chains * num_draws, theta_dim)`."""
        theta = np.asarray(self.inference_data["posterior"]["theta"].values)
        return theta.reshape(-1, theta.shape[-1])

    def summary(self) -> pd.DataFrame:
        """Posterior mean, sd, 94% HDI, ESS and R-hat per parameter."""
        theta = np.asarray(self.inference_data["posterior"]["theta"].values)
        return diagnostics.summarize(theta)

    def rounds_table(self) -> pd.DataFrame:
        """Return the round records as a table, one row per round."""
        return pd.DataFrame([dataclasses.asdict(record) for record in self.rounds])

    def save(self, output_dir: str | Path) -> Path:
        """Write `posterior.nc`, `summary.csv` and `rounds.csv` to `output_dir`."""
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        self.inference_data.to_netcdf(str(output_dir / "posterior.nc"))
        self.summary().to_csv(output_dir / "summary.csv", index_label="parameter")
        self.rounds_table().to_csv(output_dir / "rounds.csv", index=False)
        return output_dir


def _as_typed_key(key) -> jax.Array:
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, jax.Array) and key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise TypeError(f"key must be a JAX PRNG key such as jax.random.key(0), got {key!r}.")


def _check_fit_arguments(task, rounds, simulations_per_round, num_samples, sampler):
    if not isinstance(task, Task):
        raise TypeError(f"task must be an ssnl.Task, got {type(task).__name__}.")
    for name, value in (
        ("rounds", rounds),
        ("simulations_per_round", simulations_per_round),
        ("num_samples", num_samples),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if simulations_per_round < 10:
        raise ValueError(
            f"simulations_per_round must be at least 10 to leave a validation split, got "
            f"{simulations_per_round}."
        )
    if num_samples % sampler.num_chains:
        raise ValueError(
            f"num_samples={num_samples} is not a multiple of num_chains={sampler.num_chains}; "
            "every chain contributes the same number of draws. Choose num_samples = "
            f"{math.ceil(num_samples / sampler.num_chains) * sampler.num_chains}, for example."
        )


def _check_first_simulations(task: Task, y: np.ndarray) -> None:
    """Warn about a simulator that ignores its parameters or an observation it cannot produce."""
    spread = y.std(axis=0)
    if np.all(spread == 0.0):
        warnings.warn(
            f"Task {task.name!r}: the simulator returned the same data for all {y.shape[0]} "
            "parameter vectors of the first round, so the data carry no information about "
            "the parameters and the posterior will equal the prior. Check that the simulator "
            "uses its theta argument.",
            stacklevel=3,
        )
        return

    # The flow has seen no data that far from the simulations, so its likelihood at such an
    # observation is an extrapolation.
    mean = y.mean(axis=0)
    scale = np.where(spread > 0.0, spread, 1.0)
    z_scores = np.abs((task.trials - mean) / scale).max(axis=0)
    outside = np.flatnonzero(z_scores > _OBSERVATION_Z_WARNING)
    if outside.size:
        details = ", ".join(f"{i} (z = {z_scores[i]:.1f})" for i in outside[:10])
        warnings.warn(
            f"Task {task.name!r}: the observation lies far outside the first round's "
            f"simulations in data dimensions {details}. The learned likelihood there is an "
            "extrapolation; check the observation's units and preprocessing against the "
            "simulator's output, and whether the prior covers the parameters that produced it.",
            stacklevel=3,
        )


def _check_initial_simulations(task: Task, initial_simulations) -> tuple[np.ndarray, np.ndarray]:
    """Return the given `(theta, y)` as float32 arrays after checking their shapes and values."""
    if not isinstance(initial_simulations, tuple | list) or len(initial_simulations) != 2:
        raise TypeError(
            "initial_simulations must be a pair (theta, y) of arrays, got "
            f"{type(initial_simulations).__name__}."
        )
    theta = np.asarray(initial_simulations[0], dtype=np.float32)
    num_simulations = theta.shape[0] if theta.ndim == 2 else -1
    if theta.ndim != 2 or theta.shape[1] != task.theta_dim:
        raise ValueError(
            f"initial_simulations: theta must have shape (n, {task.theta_dim}) for task "
            f"{task.name!r}, got shape {theta.shape}."
        )
    if num_simulations < 10:
        raise ValueError(
            f"initial_simulations must contain at least 10 simulations to leave a validation "
            f"split, got {num_simulations}."
        )
    if not np.all(np.isfinite(theta)):
        bad_rows = np.flatnonzero(~np.all(np.isfinite(theta), axis=1))
        raise ValueError(
            f"initial_simulations: theta contains NaN or Inf in {bad_rows.size} rows, first at "
            f"row {bad_rows[0]}. Every parameter vector must be finite."
        )
    y = np.asarray(initial_simulations[1])
    if y.shape != (num_simulations, task.data_dim):
        raise ValueError(
            f"initial_simulations: y must have shape ({num_simulations}, {task.data_dim}), one "
            f"row per row of theta with the data dimension of task {task.name!r}, got shape "
            f"{y.shape}."
        )
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"initial_simulations: y must be numeric, got dtype {y.dtype}.")
    return theta, y.astype(np.float32)


def _digest_simulations(theta: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Return the size and SHA-256 digest that identify given simulations in the settings."""
    digest = hashlib.sha256(theta.tobytes())
    digest.update(y.tobytes())
    return {"num_simulations": int(theta.shape[0]), "sha256": digest.hexdigest()}


def fit(
    key: jax.Array,
    task: Task,
    *,
    rounds: int = 10,
    simulations_per_round: int = 1000,
    num_samples: int = 10_000,
    flow: FlowConfig = FlowConfig(),
    training: TrainingConfig = TrainingConfig(),
    sampler: SamplerConfig = SamplerConfig(),
    exclude_invalid: bool = False,
    initial_simulations: tuple[Any, Any] | None = None,
    output_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Estimate the posterior of `task` by surjective sequential neural likelihood estimation.

    Each round draws `simulations_per_round` parameters from the proposal (the prior in round 1,
    the previous round's posterior draws afterwards), simulates data, adds them to the pool,
    z-scores the pool with its own mean and standard deviation, trains the conditional
    flow q(y | theta) by maximum likelihood, and samples `q(y_o | theta) p(theta)` by MCMC.

    Args:
        key: PRNG key; the same key gives the same result on the same machine.
        task: Prior, simulator and observation.
        rounds: Number of rounds. Default 10.
        simulations_per_round: Simulations added per round. Default 1000.
        num_samples: Posterior draws in the result, over all chains; a multiple of
            `sampler.num_chains`. Default 10,000.
        flow: Density estimator architecture.
        training: Optimiser and early-stopping settings.
        sampler: MCMC algorithm (NUTS by default) and its settings.
        exclude_invalid: Drop simulations containing NaN or Inf with a warning and count them
            in the round records, instead of raising an error. Default False, because dropping
            them biases the learned likelihood.
        initial_simulations: Optional pair `(theta, y)` of shapes `(n, theta_dim)` and
            `(n, data_dim)`, used as round 1's simulations in place of drawing from the prior
            and calling the simulator, for example to train on the same simulations as
            another method. `n` may differ from `simulations_per_round` and must be at least
            10. Rows of `y` with NaN or Inf are handled as simulator output (see
            `exclude_invalid`). With `output_dir`, they are saved like simulated ones, and
            resuming requires the same arrays, which is checked with their SHA-256 digest.
        output_dir: If given, the settings, each round's simulations, trained estimator,
            posterior draws and record are written there as soon as they exist (npz and
            JSON, described in `ssnl.checkpoint`). The folder must not hold another fit.
        resume: Continue the fit in `output_dir` after its last complete round, reusing
            every saved simulation. The settings must match the stored ones, except `rounds`,
            which may grow. The result equals that of an uninterrupted fit with the same key.
        progress: Whether to show progress bars.

    Returns:
        The posterior as ArviZ data, per-round records, the simulations and the estimator.
    """
    key = _as_typed_key(key)
    _check_fit_arguments(task, rounds, simulations_per_round, num_samples, sampler)
    initial_arrays = None
    if initial_simulations is not None:
        initial_arrays = _check_initial_simulations(task, initial_simulations)
    latent_widths = flow.resolve_widths(task.data_dim)
    unconstraining_map = make_unconstraining_map(task.prior)
    settings = _settings_for_checkpoint(
        key,
        task,
        simulations_per_round=simulations_per_round,
        num_samples=num_samples,
        latent_widths=latent_widths,
        flow=flow,
        training=training,
        sampler=sampler,
        exclude_invalid=exclude_invalid,
        initial_simulations=None
        if initial_arrays is None
        else _digest_simulations(*initial_arrays),
    )
    output_dir = None if output_dir is None else Path(output_dir)
    state = _start_or_resume(output_dir, settings, task, resume=resume)
    if len(state.records) > rounds:
        raise ValueError(
            f"{output_dir} already contains {len(state.records)} complete rounds, more than "
            f"rounds={rounds}. Pass rounds={len(state.records)} to load the finished fit, or "
            "a larger number to continue it."
        )
    if state.records and len(state.records) == rounds:
        logger.warning(
            "all %d rounds in %s are complete, so no new simulations are run. Pass a larger "
            "`rounds` (--rounds on the command line) to continue the fit.",
            rounds,
            output_dir,
        )

    make_flow = surjectors_core.make_flow(
        task.data_dim,
        task.theta_dim,
        latent_widths,
        hidden_sizes=tuple(flow.hidden_sizes),
        num_layers_per_stage=flow.num_layers_per_stage,
    )
    log_prob = hk.without_apply_rng(hk.transform(lambda y, theta: make_flow().log_prob(y, theta)))
    posterior_target = _PosteriorTarget(task, log_prob)
    logger.info(
        "fitting %s: rounds %d to %d of %d simulations, latent widths %s",
        task.name,
        len(state.records) + 1,
        rounds,
        simulations_per_round,
        latent_widths,
    )

    first_round = len(state.records) + 1
    first_round_size = (
        simulations_per_round if initial_arrays is None else initial_arrays[0].shape[0]
    )
    for round_number in tqdm(
        range(first_round, rounds + 1),
        desc="rounds",
        initial=first_round - 1,
        total=rounds,
        disable=not progress,
    ):
        round_key = jax.random.fold_in(key, round_number)
        proposal_key, simulate_key, train_key, init_key, mcmc_key = jax.random.split(round_key, 5)

        start = time.perf_counter()
        simulations = None if output_dir is None else load_simulations(output_dir, round_number)
        if simulations is not None:
            logger.info("round %d: reusing the simulations saved in %s", round_number, output_dir)
        elif round_number == 1 and initial_arrays is not None:
            simulations = _remove_invalid(
                *initial_arrays, exclude_invalid=exclude_invalid, task_name=task.name
            )
            if output_dir is not None:
                save_simulations(output_dir, round_number, simulations)
        else:
            if state.posterior is None:
                theta = np.asarray(
                    task.prior.sample(seed=proposal_key, sample_shape=(simulations_per_round,)),
                    dtype=np.float32,
                )
            else:
                proposal_draws = state.posterior.theta.reshape(-1, task.theta_dim)
                order = np.asarray(jax.random.permutation(proposal_key, proposal_draws.shape[0]))
                theta = proposal_draws[order[:simulations_per_round]]
            simulations = simulate(
                simulate_key,
                task.simulator,
                theta,
                data_dim=task.data_dim,
                task_name=task.name,
                exclude_invalid=exclude_invalid,
                progress=progress,
            )
            if output_dir is not None:
                save_simulations(output_dir, round_number, simulations)
        simulate_seconds = time.perf_counter() - start
        state.theta = np.concatenate([state.theta, simulations.theta])
        state.y = np.concatenate([state.y, simulations.y])
        if round_number == 1:
            _check_first_simulations(task, state.y)

        start = time.perf_counter()
        state.theta_standardizer = fit_standardizer(state.theta)
        state.y_standardizer = fit_standardizer(state.y)
        result = train(
            train_key,
            log_prob,
            state.theta_standardizer.transform(state.theta),
            state.y_standardizer.transform(state.y),
            config=training,
            init_params=state.params if training.warm_start else None,
            capacity=first_round_size + (rounds - 1) * simulations_per_round,
            progress=progress,
        )
        state.params = result.params
        train_seconds = time.perf_counter() - start

        start = time.perf_counter()
        num_draws = num_samples if round_number == rounds else simulations_per_round
        state.posterior = _sample(
            mcmc_key,
            task,
            posterior_target,
            state.params,
            state.theta_standardizer,
            state.y_standardizer,
            unconstraining_map,
            init_key=init_key,
            num_draws_per_chain=math.ceil(num_draws / sampler.num_chains),
            sampler=sampler,
            progress=progress,
        )
        sample_seconds = time.perf_counter() - start

        draws = state.posterior.theta
        record = RoundRecord(
            round=round_number,
            num_simulations=int(simulations.theta.shape[0]),
            total_simulations=int(state.theta.shape[0]),
            train_loss=result.train_loss,
            validation_loss=result.validation_loss,
            epochs=result.num_epochs,
            simulate_seconds=simulate_seconds,
            train_seconds=train_seconds,
            sample_seconds=sample_seconds,
            max_rhat=max(diagnostics.rhat(draws[..., i]) for i in range(task.theta_dim)),
            min_ess=min(diagnostics.ess(draws[..., i]) for i in range(task.theta_dim)),
            divergences=int(state.posterior.diverging.sum()),
            invalid_simulations=simulations.num_invalid,
        )
        state.records.append(record)
        logger.info("round %d: %s", round_number, json.dumps(dataclasses.asdict(record)))
        if output_dir is not None:
            save_round(
                output_dir,
                round_number,
                record=dataclasses.asdict(record),
                params=state.params,
                theta_standardizer=state.theta_standardizer,
                y_standardizer=state.y_standardizer,
                posterior=state.posterior,
            )

    return _finish(task, state, latent_widths)


@dataclasses.dataclass
class _FitState:
    records: list[RoundRecord]
    theta: np.ndarray
    y: np.ndarray
    params: Any = None
    theta_standardizer: Standardizer | None = None
    y_standardizer: Standardizer | None = None
    posterior: MCMCResult | None = None


def _settings_for_checkpoint(key, task, *, latent_widths, flow, **settings) -> dict[str, Any]:
    return {
        "key_data": np.asarray(jax.random.key_data(key)).tolist(),
        "task": task.name,
        "theta_dim": task.theta_dim,
        "observation": task.observation.tolist(),
        "latent_widths": list(latent_widths),
        "hidden_sizes": list(flow.hidden_sizes),
        "num_layers_per_stage": flow.num_layers_per_stage,
        "training": dataclasses.asdict(settings.pop("training")),
        "sampler": dataclasses.asdict(settings.pop("sampler")),
        **settings,
    }


def _start_or_resume(output_dir, settings, task, *, resume: bool) -> _FitState:
    state = _FitState(
        records=[],
        theta=np.zeros((0, task.theta_dim), np.float32),
        y=np.zeros((0, task.data_dim), np.float32),
    )
    if output_dir is None:
        if resume:
            raise ValueError("resume=True needs the output_dir of the fit to continue.")
        return state

    if not resume:
        if (output_dir / "settings.json").exists():
            raise FileExistsError(
                f"{output_dir} already contains a fit. Pass resume=True (--resume on the "
                "command line) to continue it, or choose another output folder."
            )
        write_settings(output_dir, settings)
        return state

    check_settings(output_dir, settings)
    checkpoint = load_checkpoint(output_dir)
    if checkpoint is None:
        logger.info("no complete round in %s; starting at round 1", output_dir)
        return state
    logger.info("resuming after round %d from %s", len(checkpoint.records), output_dir)
    return _FitState(
        records=[RoundRecord(**record) for record in checkpoint.records],
        theta=checkpoint.theta,
        y=checkpoint.y,
        params=checkpoint.params,
        theta_standardizer=checkpoint.theta_standardizer,
        y_standardizer=checkpoint.y_standardizer,
        posterior=checkpoint.posterior,
    )


def _finish(task: Task, state: _FitState, latent_widths) -> FitResult:
    last = state.records[-1]
    num_chains, num_draws = state.posterior.theta.shape[:2]
    if last.max_rhat > _MAX_RHAT_WARNING:
        logger.warning(
            "the final chains disagree: max R-hat %.3f (warning above %.2f). Chains that stay "
            "in separate modes of a multimodal posterior cause this, and so do chains too short "
            "to forget their starting points (%d draws each here); the pooled draws are only "
            "as good as the spread of the starting points. Try more chains "
            "(SamplerConfig.num_chains, --chains on the command line), more draws "
            "(num_samples, --num-samples) or more warm-up steps (SamplerConfig.num_warmup).",
            last.max_rhat,
            _MAX_RHAT_WARNING,
            num_draws,
        )
    if last.min_ess < _MIN_ESS_WARNING:
        logger.warning(
            "the final draws are strongly autocorrelated: min bulk ESS %.0f (warning below "
            "%d). Estimates from them are less precise than their number suggests. Draw more "
            "(num_samples, --num-samples on the command line) or raise "
            "SamplerConfig.thinning.",
            last.min_ess,
            _MIN_ESS_WARNING,
        )
    num_transitions = num_chains * num_draws
    if last.divergences > _MAX_DIVERGENT_SHARE * num_transitions:
        logger.warning(
            "%d of the %d final NUTS transitions diverged (warning above %.0f%%). The draws "
            "may under-sample strongly curved regions of the posterior. Raise "
            "SamplerConfig.num_warmup, or SamplerConfig.target_acceptance_rate to 0.9 or "
            "more for smaller steps.",
            last.divergences,
            num_transitions,
            100 * _MAX_DIVERGENT_SHARE,
        )

    posterior = state.posterior
    inference_data = diagnostics.to_arviz(
        posterior.theta,
        posterior.diverging,
        posterior.acceptance_rate,
        task.observation,
        step_size=posterior.step_size,
    )
    return FitResult(
        inference_data=inference_data,
        rounds=state.records,
        theta=state.theta,
        y=state.y,
        params=state.params,
        theta_standardizer=state.theta_standardizer,
        y_standardizer=state.y_standardizer,
        latent_widths=latent_widths,
    )


class _PosteriorTarget:
    """Log-likelihood and log posterior of one task's observation under a trained estimator.

    One instance serves all rounds of a fit: the round's estimator parameters and z-scoring
    statistics come in as arguments, so MCMC compiles its programs once.
    """

    def __init__(self, task: Task, log_prob: hk.Transformed):
        self._task = task
        self._log_prob = log_prob

    def arguments(self, params, theta_standardizer, y_standardizer) -> tuple:
        """Return the arrays that `log_likelihood` and `log_posterior` take after theta."""
        y_observed = jnp.asarray(y_standardizer.transform(self._task.trials))
        # The estimator models standardised data, so the density of each raw trial carries
        # the Jacobian of the z-scoring.
        log_jacobian = -self._task.num_trials * y_standardizer.log_scale_sum
        return (
            params,
            jnp.asarray(theta_standardizer.mean),
            jnp.asarray(theta_standardizer.scale),
            y_observed,
            log_jacobian,
        )

    def log_likelihood(self, theta, params, theta_mean, theta_scale, y_observed, log_jacobian):
        """Return the estimated log q(y_o | theta) of the raw observation, summed over trials."""
        task = self._task
        theta_standardized = jnp.broadcast_to(
            (theta - theta_mean) / theta_scale, (task.num_trials, task.theta_dim)
        )
        # Trials are independent given theta, so their log-likelihoods add up.
        log_density = self._log_prob.apply(params, y_observed, theta_standardized)
        return jnp.sum(log_density) + log_jacobian

    def log_posterior(self, theta, *arguments):
        """Return the unnormalised log posterior `log q(y_o | theta) + log p(theta)`."""
        return self.log_likelihood(theta, *arguments) + self._task.prior.log_prob(theta)


def _sample(
    key,
    task,
    target: _PosteriorTarget,
    params,
    theta_standardizer,
    y_standardizer,
    unconstraining_map,
    *,
    init_key,
    num_draws_per_chain,
    sampler,
    progress,
) -> MCMCResult:
    arguments = target.arguments(params, theta_standardizer, y_standardizer)
    candidate_key, resample_key = jax.random.split(init_key)
    candidates = task.prior.sample(seed=candidate_key, sample_shape=(sampler.num_init_candidates,))
    init_theta = initial_positions(
        resample_key,
        jnp.asarray(candidates),
        target.log_likelihood,
        sampler.num_chains,
        log_weight_args=arguments,
    )
    return sample_posterior(
        key,
        target.log_posterior,
        unconstraining_map,
        init_theta,
        num_draws=num_draws_per_chain,
        config=sampler,
        log_density_args=arguments,
        progress=progress,
    )
