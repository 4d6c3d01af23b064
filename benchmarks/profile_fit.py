"""Time one fit per phase, and compare warm-starting the estimator with re-initialising it.

For each setting the script runs a full fit of a task and prints, per round and in total, the
seconds spent simulating, training and sampling, the epochs trained, and the process's peak
resident memory. With `--markdown FILE` it also writes the tables into the `profile` section
of that page (see `benchmarks/_page.py`).

    python benchmarks/profile_fit.py [--task slcp] [--rounds 10] [--simulations 1000]
                                     [--markdown docs/performance.md]
"""

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import jax

import models
import ssnl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _page import replace_section  # noqa: E402


def _peak_memory_gib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _profile(task, args, warm_start: bool):
    start = time.perf_counter()
    result = ssnl.fit(
        jax.random.key(args.seed),
        task,
        rounds=args.rounds,
        simulations_per_round=args.simulations,
        num_samples=args.num_samples,
        training=ssnl.TrainingConfig(warm_start=warm_start),
        progress=False,
    )
    wall = time.perf_counter() - start
    return result.rounds_table(), wall, _peak_memory_gib()


def _table(rows, columns) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="slcp", help="task name known to models.get_task")
    parser.add_argument("--rounds", type=int, default=10, help="number of rounds")
    parser.add_argument("--simulations", type=int, default=1000, help="simulations per round")
    parser.add_argument("--num-samples", type=int, default=10_000, help="final posterior draws")
    parser.add_argument("--seed", type=int, default=0, help="seed of the PRNG key")
    parser.add_argument("--markdown", help="write the tables to this markdown file")
    args = parser.parse_args()

    machine = (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"JAX {jax.__version__} on {jax.default_backend()}"
    )
    task = models.get_task(args.task)
    sections = [
        f"Machine: {machine}.",
        f"Command: `python benchmarks/profile_fit.py --task {args.task} --rounds {args.rounds} "
        f"--simulations {args.simulations} --num-samples {args.num_samples} --seed {args.seed}`.",
    ]
    totals = []
    for warm_start in (False, True):
        table, wall, peak = _profile(task, args, warm_start)
        label = "warm start" if warm_start else "re-initialised each round"
        columns = ["round", "simulate_seconds", "train_seconds", "sample_seconds", "epochs"]
        rows = [
            [int(r["round"]), *(f"{r[c]:.2f}" for c in columns[1:4]), int(r["epochs"])]
            for _, r in table.iterrows()
        ]
        sections.append(f"### {args.task}, estimator {label}\n\n" + _table(rows, columns))
        totals.append(
            [
                label,
                f"{wall:.1f}",
                *(f"{table[c].sum():.1f}" for c in columns[1:4]),
                int(table["epochs"].sum()),
                f"{table['validation_loss'].iloc[-1]:.3f}",
                f"{peak:.2f}",
            ]
        )
        print(sections[-1], "\n", flush=True)

    total_columns = [
        "estimator",
        "wall_seconds",
        "simulate",
        "train",
        "sample",
        "epochs",
        "final_validation_loss",
        "peak_memory_gib",
    ]
    sections.append("### Totals\n\n" + _table(totals, total_columns))
    print(machine)
    print(sections[-1])

    if args.markdown:
        header = (
            "## Phase profile\n\nPhase profile of one fit, measured by "
            "`benchmarks/profile_fit.py`. Seconds include compilation. Peak memory is the "
            "process's maximum resident set after each fit, so the second row includes the "
            "first.\n\n"
        )
        replace_section(Path(args.markdown), "profile", header + "\n\n".join(sections))


if __name__ == "__main__":
    main()
