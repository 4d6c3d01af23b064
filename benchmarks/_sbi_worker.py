"""Run sbi's neural likelihood estimation (NLE) on an ssnl benchmark task, for compare_sbi.py.

This script runs in the interpreter of the sbi virtual environment, which contains PyTorch, sbi
and ssnl's dependencies. `benchmarks/compare_sbi.py` describes how to create it. It puts the
repository root first on `sys.path`, so it runs the same `models` and `ssnl` code as the ssnl
side even when the copy installed in that environment is older.

Usage, with files that compare_sbi.py writes and reads:

    python benchmarks/_sbi_worker.py --versions
    python benchmarks/_sbi_worker.py --mode one-round --task slcp --input in.npz \\
        --output out.npz --num-samples 10000 --seed 0
    python benchmarks/_sbi_worker.py --mode sequential --task slcp --input in.npz \\
        --output out.npz --rounds 10 --simulations-per-round 1000 --num-samples 10000 --seed 0

`--input` is an npz file with the array `observation`, of shape `(data_dim,)` or
`(num_trials, data_dim)`, and, for `--mode one-round`, the simulations `theta` and `y`.
`--output` receives the npz array `samples`, shape `(num_samples, theta_dim)`, and a JSON
file next to it (same name, suffix `.json`) with the timings in seconds. The timings start
after all imports and the task's construction, so interpreter start-up is excluded.

sbi runs with its defaults: `NLE` with the MAF density estimator, `train()` with its default
settings, and the posterior of `build_posterior()`, which samples by MCMC with sbi's default
method and settings. The prior is the task's JAX prior rebuilt as a PyTorch distribution, and
the simulator is the task's JAX simulator, called through `ssnl.simulate.simulate`, the
function that `ssnl.fit` uses.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import models  # noqa: E402
from ssnl.simulate import simulate  # noqa: E402

# Class names of multivariate normal priors whose covariance `_torch_prior` reads.
_MULTIVARIATE_NORMALS = (
    "MultivariateNormalDiag",
    "MultivariateNormalTri",
    "MultivariateNormalFullCovariance",
)


def _family(distribution) -> str | None:
    """Return the first class name in the distribution's MRO that `_torch_prior` handles."""
    known = (*_MULTIVARIATE_NORMALS, "Independent", "Uniform", "Normal", "LogNormal")
    for cls in type(distribution).__mro__:
        if cls.__name__ in known:
            return cls.__name__
    return None


def _tensor(value, theta_dim: int | None = None) -> torch.Tensor:
    # A copy, because NumPy views of JAX arrays are read-only and PyTorch expects writable ones.
    array = np.array(value, dtype=np.float32)
    if theta_dim is not None:
        array = np.broadcast_to(array, (theta_dim,)).copy()
    return torch.from_numpy(array)


def _torch_prior(prior, theta_dim: int) -> torch.distributions.Distribution:
    """Rebuild a distrax or TensorFlow Probability prior as a PyTorch distribution.

    Supported: multivariate normals (diagonal, triangular scale or full covariance) and
    `Independent` over uniform, normal or log-normal components, which covers the priors of
    the tasks in `models`.

    Raises:
        NotImplementedError: For any other prior.
    """
    from sbi.utils import BoxUniform

    family = _family(prior)
    if family == "MultivariateNormalDiag":
        scale = torch.diag(_tensor(prior.scale_diag, theta_dim))
        return torch.distributions.MultivariateNormal(
            _tensor(prior.loc, theta_dim), scale_tril=scale
        )
    if family == "MultivariateNormalTri":
        return torch.distributions.MultivariateNormal(
            _tensor(prior.loc, theta_dim), scale_tril=_tensor(prior.scale_tri)
        )
    if family == "MultivariateNormalFullCovariance":
        return torch.distributions.MultivariateNormal(
            _tensor(prior.loc, theta_dim), covariance_matrix=_tensor(prior.covariance())
        )

    if family == "Independent":
        base = prior.distribution
        base_family = _family(base)
        if base_family == "Uniform":
            return BoxUniform(_tensor(base.low, theta_dim), _tensor(base.high, theta_dim))
        if base_family in ("Normal", "LogNormal"):
            component = getattr(torch.distributions, base_family)
            return torch.distributions.Independent(
                component(_tensor(base.loc, theta_dim), _tensor(base.scale, theta_dim)), 1
            )
        family = f"Independent over {base_family or type(base).__name__}"

    raise NotImplementedError(
        f"compare_sbi cannot rebuild the prior {family or type(prior).__name__} in PyTorch. "
        "Supported: multivariate normals and Independent over Uniform, Normal or LogNormal."
    )


class _Simulator:
    """The task's JAX simulator on PyTorch tensors, with a fresh key for every call."""

    def __init__(self, task, seed: int):
        self._task = task
        self._key = jax.random.key(seed)
        self._num_calls = 0
        self.seconds = 0.0

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        self._num_calls += 1
        simulations = simulate(
            jax.random.fold_in(self._key, self._num_calls),
            self._task.simulator,
            theta.numpy(),
            data_dim=self._task.data_dim,
            task_name=self._task.name,
        )
        self.seconds += time.perf_counter() - start
        return torch.from_numpy(simulations.y)


def _run_one_round(inference, arrays, x_observed, num_samples: int) -> dict:
    """Train on the given simulations once and sample the posterior."""
    start = time.perf_counter()
    theta = torch.from_numpy(np.asarray(arrays["theta"], dtype=np.float32))
    y = torch.from_numpy(np.asarray(arrays["y"], dtype=np.float32))
    inference.append_simulations(theta, y).train()
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    posterior = inference.build_posterior()
    samples = posterior.sample((num_samples,), x=x_observed, show_progress_bars=False)
    sample_seconds = time.perf_counter() - start
    return {
        "samples": samples,
        "simulate_seconds": 0.0,
        "train_seconds": train_seconds,
        "sample_seconds": sample_seconds,
        "num_simulations": int(theta.shape[0]),
    }


def _run_sequential(
    inference, prior, simulator, x_observed, *, rounds, simulations_per_round, num_samples
) -> dict:
    """Run sbi's multi-round NLE loop, with each round's posterior as the next proposal.

    Each round's timings are printed, so the worker's log shows the progress.
    """
    posterior = None
    records = []
    for round_number in range(1, rounds + 1):
        start = time.perf_counter()
        if posterior is None:
            theta = prior.sample((simulations_per_round,))
        else:
            theta = posterior.sample((simulations_per_round,), show_progress_bars=False)
        sample_seconds = time.perf_counter() - start

        simulate_before = simulator.seconds
        y = simulator(theta)

        start = time.perf_counter()
        inference.append_simulations(theta, y).train()
        posterior = inference.build_posterior().set_default_x(x_observed)
        record = {
            "round": round_number,
            "proposal_sample_seconds": sample_seconds,
            "simulate_seconds": simulator.seconds - simulate_before,
            "train_seconds": time.perf_counter() - start,
            "epochs": int(inference.summary["epochs_trained"][-1]),
        }
        records.append(record)
        # sbi prints its "converged after N epochs" message without a trailing newline.
        print(f"\nround record: {json.dumps(record)}", flush=True)

    start = time.perf_counter()
    samples = posterior.sample((num_samples,), show_progress_bars=False)
    final_sample_seconds = time.perf_counter() - start
    return {
        "samples": samples,
        "simulate_seconds": simulator.seconds,
        "train_seconds": sum(record["train_seconds"] for record in records),
        "sample_seconds": final_sample_seconds
        + sum(record["proposal_sample_seconds"] for record in records),
        "num_simulations": rounds * simulations_per_round,
        "rounds": records,
    }


def _versions() -> dict:
    import sbi

    return {
        "python": platform.python_version(),
        "sbi": sbi.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "jax": jax.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", action="store_true", help="print versions as JSON, exit")
    parser.add_argument("--mode", choices=("one-round", "sequential"), help="what to run")
    parser.add_argument("--task", help="task name known to models.get_task")
    parser.add_argument("--input", type=Path, help="npz file with the observation")
    parser.add_argument("--output", type=Path, help="npz file for the posterior samples")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of --mode sequential")
    parser.add_argument(
        "--simulations-per-round", type=int, default=1000, help="simulations per round"
    )
    parser.add_argument("--num-samples", type=int, default=10_000, help="posterior draws")
    parser.add_argument("--seed", type=int, default=0, help="seed of PyTorch, NumPy and JAX")
    args = parser.parse_args()

    if args.versions:
        print(json.dumps(_versions()))
        return
    missing = [name for name in ("mode", "task", "input", "output") if getattr(args, name) is None]
    if missing:
        parser.error("missing " + ", ".join(f"--{name}" for name in missing))

    from sbi.inference import NLE

    torch.manual_seed(args.seed)
    # sbi's NumPy slice sampler draws from NumPy's global random state.
    np.random.seed(args.seed)  # noqa: NPY002
    with np.load(args.input) as stored:
        arrays = {name: stored[name] for name in stored.files}
    # The prior and simulator do not depend on the observation, so the task's default
    # observation is ignored and the one in --input, which the ssnl side uses, is used here.
    task = models.get_task(args.task)
    observation = np.asarray(arrays["observation"], dtype=np.float32)
    x_observed = torch.from_numpy(observation.reshape(-1, task.data_dim))
    prior = _torch_prior(task.prior, task.theta_dim)
    simulator = _Simulator(task, args.seed)
    inference = NLE(prior=prior, show_progress_bars=False)

    start = time.perf_counter()
    if args.mode == "one-round":
        result = _run_one_round(inference, arrays, x_observed, args.num_samples)
    else:
        result = _run_sequential(
            inference,
            prior,
            simulator,
            x_observed,
            rounds=args.rounds,
            simulations_per_round=args.simulations_per_round,
            num_samples=args.num_samples,
        )
    wall_seconds = time.perf_counter() - start

    samples = result.pop("samples")
    np.savez(args.output, samples=np.asarray(samples.numpy(), dtype=np.float32))
    report = {"wall_seconds": wall_seconds, **result, **_versions()}
    args.output.with_suffix(".json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
