"""Score ssnl's MCMC alone on slcp, with the exact likelihood in place of a learned one.

slcp's likelihood is Gaussian and known in closed form, so sampling its exact posterior with
`ssnl.mcmc` isolates the error of the sampler: the C2ST against the reference samples is what
a perfect density estimator would score with the same chains. The posterior has four modes of
equal mass that chains do not cross, so the score mostly measures how evenly the starting
points spread the chains over the modes.

    python benchmarks/sampler_floor.py [--observation 1] [--settings 10:300 50:50]
                                       [--seeds 0 1] [--num-samples 10000]

Each `--settings` entry is `CHAINS:WARMUP`. Starting points are picked from prior draws as in
`ssnl.fit` (`SamplerConfig.num_init_candidates` of them, weighted by the likelihood).
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import models
from models import slcp
from ssnl.constraints import make_unconstraining_map
from ssnl.mcmc import SamplerConfig, initial_positions, sample_posterior
from ssnl.metrics import c2st


def make_log_likelihood(observation: np.ndarray):
    """Return the exact log-likelihood of one parameter vector for the observation."""
    draws = jnp.asarray(observation, jnp.float32).reshape(slcp.NUM_DRAWS, 2)

    def log_likelihood(theta):
        mean, covariance = slcp.likelihood_parameters(theta[None])
        centred = draws - mean[0]
        precision = jnp.linalg.inv(covariance[0])
        quadratic = jnp.einsum("ni,ij,nj->n", centred, precision, centred)
        _, log_det = jnp.linalg.slogdet(covariance[0])
        return jnp.sum(-0.5 * quadratic - 0.5 * log_det - jnp.log(2 * jnp.pi))

    return log_likelihood


def _parse_setting(text: str) -> tuple[int, int]:
    chains, _, warmup = text.partition(":")
    try:
        values = int(chains), int(warmup)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid setting {text!r}: expected CHAINS:WARMUP, for example 50:50"
        ) from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"invalid setting {text!r}: both numbers must be >= 1")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observation", type=int, default=1, help="observation (default 1)")
    parser.add_argument(
        "--settings", type=_parse_setting, nargs="+", default=[(10, 300), (50, 50)]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--num-samples", type=int, default=10_000, help="draws per run")
    args = parser.parse_args()
    for chains, _ in args.settings:
        if args.num_samples % chains:
            parser.error(f"--num-samples {args.num_samples} is not a multiple of {chains} chains")

    task = models.get_task("slcp", observation=args.observation)
    reference = np.asarray(task.reference_sampler(jax.random.key(12345), args.num_samples))
    log_likelihood = make_log_likelihood(np.asarray(task.observation))

    def log_posterior(theta):
        return log_likelihood(theta) + task.prior.log_prob(theta)

    mapping = make_unconstraining_map(task.prior)
    print(f"task=slcp observation={args.observation} draws={args.num_samples}", flush=True)
    for seed in args.seeds:
        for chains, warmup in args.settings:
            config = SamplerConfig(num_chains=chains, num_warmup=warmup)
            candidate_key, init_key, sample_key = jax.random.split(jax.random.key(seed), 3)
            candidates = task.prior.sample(
                seed=candidate_key, sample_shape=(config.num_init_candidates,)
            )
            start = time.perf_counter()
            starts = initial_positions(init_key, candidates, log_likelihood, chains)
            result = sample_posterior(
                sample_key,
                log_posterior,
                mapping,
                starts,
                num_draws=args.num_samples // chains,
                config=config,
            )
            seconds = time.perf_counter() - start
            # Chains per mode, the modes being the sign patterns of theta_2 and theta_3.
            signs = np.sign(result.theta.mean(axis=1)[:, 2:4])
            per_mode = [
                int(np.sum((signs[:, 0] == a) & (signs[:, 1] == b)))
                for a, b in ((-1, -1), (-1, 1), (1, -1), (1, 1))
            ]
            row = {
                "seed": seed,
                "chains": chains,
                "warmup": warmup,
                "seconds": round(seconds, 1),
                "chains_per_mode": per_mode,
                "divergences": int(result.diverging.sum()),
                "c2st": round(c2st(reference, result.theta.reshape(-1, task.theta_dim)), 4),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
