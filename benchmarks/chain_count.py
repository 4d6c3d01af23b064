"""Measure how the number of MCMC chains and warm-up steps trade wall time against C2ST.

Each fit uses ssnl's defaults (10 rounds, NUTS) except `SamplerConfig.num_chains` and
`SamplerConfig.num_warmup`. C2ST against the task's reference samples scores it. On a
multimodal posterior such as slcp's, chains do not move between modes, so the share of draws
in each mode comes from where the chains start. The printed lines show what extra chains gain
there and what they cost.

    python benchmarks/chain_count.py [--task slcp] [--observation 1] [--chains 10 20 50 100]
                                     [--warmup 300] [--seeds 0 1] [--simulations 10000]

`--warmup` takes one value for every chain count, or one value per `--chains` entry.
"""

import argparse
import json
import time

import jax
import numpy as np

import models
import ssnl
from ssnl.metrics import c2st


def run_one(
    task, reference, num_chains: int, num_warmup: int, seed: int, simulations: int, rounds: int
) -> dict:
    """Fit `task` with `num_chains` chains and return its timings, R-hat and C2ST."""
    start = time.perf_counter()
    result = ssnl.fit(
        jax.random.key(seed),
        task,
        rounds=rounds,
        simulations_per_round=simulations // rounds,
        num_samples=10_000,
        sampler=ssnl.SamplerConfig(num_chains=num_chains, num_warmup=num_warmup),
        progress=False,
    )
    wall_seconds = time.perf_counter() - start
    rounds_table = result.rounds_table()
    return {
        "seed": seed,
        "chains": num_chains,
        "warmup": num_warmup,
        "wall_seconds": round(wall_seconds, 1),
        "train_seconds": round(float(rounds_table["train_seconds"].sum()), 1),
        "sample_seconds": round(float(rounds_table["sample_seconds"].sum()), 1),
        "final_max_rhat": round(float(rounds_table["max_rhat"].iloc[-1]), 3),
        "c2st": round(c2st(reference, result.samples), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="slcp", help="task name (default slcp)")
    parser.add_argument("--observation", type=int, default=1, help="observation (default 1)")
    parser.add_argument("--chains", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument(
        "--warmup", type=int, nargs="+", default=[300], help="warm-up steps per chain"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--simulations", type=int, default=10_000, help="total over rounds")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    for chains in args.chains:
        if chains < 1 or 10_000 % chains:
            parser.error(f"--chains {chains} must divide the 10,000 posterior draws")
    if len(args.warmup) == 1:
        args.warmup = args.warmup * len(args.chains)
    if len(args.warmup) != len(args.chains) or min(args.warmup) < 1:
        parser.error(
            f"--warmup needs one positive value or one per --chains value ({len(args.chains)}), "
            f"got {args.warmup}"
        )

    task = models.get_task(args.task, observation=args.observation)
    if task.reference_sampler is None:
        parser.error(f"task {args.task} has no reference samples to score against")
    reference = np.asarray(task.reference_sampler(jax.random.key(12345), 10_000))
    print(
        f"task={args.task} observation={args.observation} simulations={args.simulations} "
        f"rounds={args.rounds} draws=10000 reference={reference.shape[0]}",
        flush=True,
    )
    for seed in args.seeds:
        for chains, warmup in zip(args.chains, args.warmup, strict=True):
            row = run_one(task, reference, chains, warmup, seed, args.simulations, args.rounds)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
