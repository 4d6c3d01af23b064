"""Peak memory of a fit with 1,000-dimensional data and 100 MCMC chains.

The task is SLCP with 992 distractor dimensions of standard normal noise that do not depend on
the parameters, so the data have 1,000 dimensions. The script runs one or more rounds and prints
the process's peak resident memory, which must stay below 4 GiB.

    python benchmarks/memory_high_dim.py [--rounds 1] [--simulations 1000] [--chains 100]
"""

import argparse
import os
import platform
import resource
import time

import jax
import jax.numpy as jnp

import models
import ssnl

DATA_DIM = 1000
LIMIT_GIB = 4.0


def make_task() -> ssnl.Task:
    """Build SLCP padded with parameter-independent noise to 1,000 data dimensions."""
    slcp = models.get_task("slcp")
    num_distractors = DATA_DIM - slcp.data_dim

    def simulate(key, theta):
        slcp_key, noise_key = jax.random.split(key)
        noise = jax.random.normal(noise_key, (theta.shape[0], num_distractors))
        return jnp.concatenate([slcp.simulator(slcp_key, theta), noise], axis=1)

    noise = jax.random.normal(jax.random.key(99), (num_distractors,))
    observation = jnp.concatenate([jnp.asarray(slcp.observation), noise])
    return ssnl.Task("slcp_1000", slcp.prior, simulate, observation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="number of rounds")
    parser.add_argument("--simulations", type=int, default=1000, help="simulations per round")
    parser.add_argument("--chains", type=int, default=100, help="number of MCMC chains")
    args = parser.parse_args()

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, JAX {jax.__version__} "
        f"on {jax.default_backend()}"
    )
    start = time.perf_counter()
    result = ssnl.fit(
        jax.random.key(0),
        make_task(),
        rounds=args.rounds,
        simulations_per_round=args.simulations,
        num_samples=10 * args.chains,
        sampler=ssnl.SamplerConfig(num_chains=args.chains),
        progress=False,
    )
    seconds = time.perf_counter() - start

    # ru_maxrss is in KiB on Linux.
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"data dimensions: {DATA_DIM}, latent widths: {result.latent_widths}")
    print(
        f"rounds: {args.rounds}, simulations per round: {args.simulations}, "
        f"chains: {args.chains}, wall seconds: {seconds:.1f}"
    )
    print(
        f"peak resident memory: {peak_gib:.2f} GiB (limit {LIMIT_GIB} GiB): "
        f"{'within' if peak_gib <= LIMIT_GIB else 'ABOVE'} the limit"
    )


if __name__ == "__main__":
    main()
