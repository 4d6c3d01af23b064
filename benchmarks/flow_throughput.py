"""Measure log_prob and sampling throughput of a surjective flow against a bijective one.

The surjective flow maps 100-dimensional data with a 5-dimensional context through widths
100 -> 50 -> 25 (`make_flow(100, 5, [50, 25])`: two MaskedAutoregressive (MAF) layers per
width and an autoregressive funnel with a Gaussian decoder between widths). The baseline is a
bijective flow with the same number of MAF layers, six, on all 100 dimensions
(`latent_widths=()`). Both use untrained parameters from `init`, which cost the same to
evaluate as trained ones.

For each flow the script compiles `log_prob` on a batch of `--batch-size` points and
`sample_and_log_prob` with one sample per context row of the same batch, ahead of time with
`jax.jit(...).lower(...).compile()`, and reports the compile time separately. After one
warm-up call, each compiled function is timed `--repeats` times, waiting for the result with
`block_until_ready`. The script prints the median in points per second for each flow, and
then the ratios of the surjective flow's throughputs to the bijective flow's.

Run it from the repository root, with ssnl installed (`pip install .`) or with
`PYTHONPATH=.` set, as

    python benchmarks/flow_throughput.py
    python benchmarks/flow_throughput.py --batch-size 1000 --repeats 10

The flows run on JAX's default backend, which is the GPU when jaxlib has GPU support, so
the same command measures a GPU there.
Throughput depends on the machine and on other load, so compare numbers from one run.
"""

import argparse
import os
import platform
import statistics
import time

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

import surjectors_core

DATA_DIM = 100
CONTEXT_DIM = 5
LATENT_WIDTHS = (50, 25)
NUM_LAYERS_PER_STAGE = 2
HIDDEN_SIZES = (64, 64)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=10_000,
        help="points per log_prob call and samples per sample_and_log_prob call (default 10000)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=5,
        help="number of timed calls per measurement, made after compiling and one warm-up "
        "call. The script reports their median (default 5)",
    )
    return parser.parse_args()


def time_call(function, *args, repeats: int) -> tuple[float, float]:
    """Compile `function` for `args`, call it once to warm up, then time `repeats` calls.

    Returns the seconds spent compiling and the median seconds of the timed calls.
    """
    start = time.perf_counter()
    compiled = jax.jit(function).lower(*args).compile()
    compile_seconds = time.perf_counter() - start

    jax.block_until_ready(compiled(*args))
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        durations.append(time.perf_counter() - start)
    return compile_seconds, statistics.median(durations)


def measure_flow(latent_widths, num_layers_per_stage, y, x, repeats: int) -> dict[str, float]:
    """Measure the compile times and median throughputs of one flow's log_prob and sampling."""
    make = surjectors_core.make_flow(
        DATA_DIM,
        CONTEXT_DIM,
        latent_widths,
        num_layers_per_stage=num_layers_per_stage,
        hidden_sizes=HIDDEN_SIZES,
    )
    # One builder call per transformed function, as make_flow requires. Both functions create
    # the same module names, so they share the parameters from `init`.
    log_prob = hk.without_apply_rng(hk.transform(lambda y, x: make().log_prob(y, x)))
    sample = hk.transform(lambda x: make().sample_and_log_prob(x))
    params = log_prob.init(jax.random.key(0), y[:2], x[:2])

    batch_size = y.shape[0]
    log_prob_compile, log_prob_seconds = time_call(log_prob.apply, params, y, x, repeats=repeats)
    sample_compile, sample_seconds = time_call(
        sample.apply, params, jax.random.key(1), x, repeats=repeats
    )
    return {
        "parameters": sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)),
        "log_prob_compile": log_prob_compile,
        "log_prob_rate": batch_size / log_prob_seconds,
        "sample_compile": sample_compile,
        "sample_rate": batch_size / sample_seconds,
    }


def main() -> None:
    args = parse_args()
    print(
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"JAX {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"Batch size {args.batch_size}, {args.repeats} timed repeats (median), hidden sizes "
        f"{HIDDEN_SIZES}, context dimension {CONTEXT_DIM}"
    )

    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.normal(size=(args.batch_size, DATA_DIM)), jnp.float32)
    x = jnp.asarray(rng.normal(size=(args.batch_size, CONTEXT_DIM)), jnp.float32)

    # Three widths with two MAF layers each match the six layers of the bijective baseline.
    num_stages = len(LATENT_WIDTHS) + 1
    widths_label = " -> ".join(str(width) for width in (DATA_DIM, *LATENT_WIDTHS))
    flows = {
        f"surjective {widths_label}": (LATENT_WIDTHS, NUM_LAYERS_PER_STAGE),
        f"bijective {DATA_DIM}": ((), NUM_LAYERS_PER_STAGE * num_stages),
    }
    print(
        f"{'flow':<27} {'parameters':>10} {'log_prob':>12} {'compile':>8} {'sampling':>12} "
        f"{'compile':>8}"
    )
    print(f"{'':<27} {'':>10} {'points/s':>12} {'s':>8} {'points/s':>12} {'s':>8}")
    results = {}
    for name, (latent_widths, num_layers_per_stage) in flows.items():
        result = measure_flow(latent_widths, num_layers_per_stage, y, x, args.repeats)
        results[name] = result
        print(
            f"{name:<27} {result['parameters']:>10,d} {result['log_prob_rate']:>12,.0f} "
            f"{result['log_prob_compile']:>8.1f} {result['sample_rate']:>12,.0f} "
            f"{result['sample_compile']:>8.1f}"
        )

    surjective, bijective = results.values()
    print(
        f"Surjective / bijective throughput: log_prob "
        f"{surjective['log_prob_rate'] / bijective['log_prob_rate']:.2f}x, "
        f"sample_and_log_prob {surjective['sample_rate'] / bijective['sample_rate']:.2f}x"
    )


if __name__ == "__main__":
    main()
