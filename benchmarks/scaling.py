"""Time full fits as the simulation budget and the data dimension grow.

Two series, each fit 10 rounds with 10,000 posterior draws:

- slcp with 1,000, 10,000 and 100,000 simulations in total;
- slcp padded with standard normal distractor dimensions, which do not depend on the
  parameters, to 10, 100 and 1,000 data dimensions, at a fixed budget.

Each fit runs in a fresh process so that its peak resident memory is its own. The script prints
one line per fit and, with `--markdown FILE`, writes the table into the `scaling` section of
that page (see `benchmarks/_page.py`).

    python benchmarks/scaling.py [--budgets 1000 10000 100000] [--dims 10 100 1000]
                                 [--dim-budget 10000] [--markdown docs/performance.md]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import models
import ssnl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _page import replace_section  # noqa: E402

ROUNDS = 10


def make_padded_slcp(data_dim: int) -> ssnl.Task:
    """Build slcp with `data_dim - 8` standard normal distractor dimensions appended."""
    slcp = models.get_task("slcp")
    if data_dim == slcp.data_dim:
        return slcp
    num_distractors = data_dim - slcp.data_dim
    if num_distractors < 0:
        raise ValueError(f"data_dim must be at least {slcp.data_dim}, got {data_dim}.")

    def simulate(key, theta):
        slcp_key, noise_key = jax.random.split(key)
        noise = jax.random.normal(noise_key, (theta.shape[0], num_distractors))
        return jnp.concatenate([slcp.simulator(slcp_key, theta), noise], axis=1)

    noise = jax.random.normal(jax.random.key(99), (num_distractors,))
    observation = jnp.concatenate([jnp.asarray(slcp.observation), noise])
    return ssnl.Task(f"slcp_{data_dim}", slcp.prior, simulate, observation)


def run_one(data_dim: int, simulations: int, num_samples: int, seed: int) -> dict:
    """Fit one setting in this process and return its timings and peak memory."""
    task = make_padded_slcp(data_dim)
    start = time.perf_counter()
    result = ssnl.fit(
        jax.random.key(seed),
        task,
        rounds=ROUNDS,
        simulations_per_round=simulations // ROUNDS,
        num_samples=num_samples,
        progress=False,
    )
    wall = time.perf_counter() - start
    table = result.rounds_table()
    return {
        "data_dim": task.data_dim,
        "latent_widths": list(result.latent_widths),
        "simulations": simulations,
        "wall_seconds": wall,
        "simulate_seconds": float(table["simulate_seconds"].sum()),
        "train_seconds": float(table["train_seconds"].sum()),
        "sample_seconds": float(table["sample_seconds"].sum()),
        "epochs": int(table["epochs"].sum()),
        # ru_maxrss is in KiB on Linux.
        "peak_memory_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def _run_in_subprocess(data_dim: int, simulations: int, args) -> dict:
    command = [
        sys.executable,
        __file__,
        "--one",
        str(data_dim),
        str(simulations),
        "--num-samples",
        str(args.num_samples),
        "--seed",
        str(args.seed),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"The fit with {data_dim} data dimensions and {simulations} simulations failed "
            f"with exit status {completed.returncode}:\n{completed.stderr[-3000:]}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _table(rows: list[dict]) -> str:
    columns = [
        "data_dim",
        "latent_widths",
        "simulations",
        "wall_seconds",
        "simulate_seconds",
        "train_seconds",
        "sample_seconds",
        "epochs",
        "peak_memory_gib",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            cells.append(f"{value:.1f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budgets", type=int, nargs="*", default=[1000, 10_000, 100_000], help="slcp budgets"
    )
    parser.add_argument(
        "--dims", type=int, nargs="*", default=[10, 100, 1000], help="padded data dimensions"
    )
    parser.add_argument(
        "--dim-budget", type=int, default=10_000, help="simulations of the dimension series"
    )
    parser.add_argument("--num-samples", type=int, default=10_000, help="final posterior draws")
    parser.add_argument("--seed", type=int, default=0, help="seed of the PRNG key")
    parser.add_argument("--markdown", help="write the table into this page's scaling section")
    parser.add_argument(
        "--one", type=int, nargs=2, metavar=("DATA_DIM", "SIMULATIONS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.one:
        print(json.dumps(run_one(*args.one, args.num_samples, args.seed)))
        return

    settings = [(8, budget) for budget in args.budgets]
    settings += [(dim, args.dim_budget) for dim in args.dims]
    rows = []
    for data_dim, simulations in settings:
        row = _run_in_subprocess(data_dim, simulations, args)
        rows.append(row)
        print(json.dumps(row), flush=True)

    machine = (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"JAX {jax.__version__} on {jax.default_backend()}"
    )
    command = (
        "python benchmarks/scaling.py --budgets "
        + " ".join(map(str, args.budgets))
        + " --dims "
        + " ".join(map(str, args.dims))
        + f" --dim-budget {args.dim_budget} --num-samples {args.num_samples} --seed {args.seed}"
    )
    text = (
        "## Scaling\n\n"
        f"Full fits of {ROUNDS} rounds with {args.num_samples} posterior draws and default "
        "settings, each in a fresh process. The rows with 8 data dimensions are slcp; the "
        "others pad slcp with standard normal distractor dimensions. Seconds include "
        "compilation; the JAX compilation cache was not enabled.\n\n"
        f"Machine: {machine}.\n\nCommand: `{command}`.\n\n" + _table(rows)
    )
    print(text)
    if args.markdown:
        replace_section(Path(args.markdown), "scaling", text)


if __name__ == "__main__":
    main()
