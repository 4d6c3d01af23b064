"""Command line: `ssnl fit --model MODEL ...`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path

__all__ = ["main", "load_task", "ModelSpecError"]

logger = logging.getLogger("ssnl")

# JAX's persistent compilation cache lets a second run skip compilation. The command line sets
# it (library code leaves JAX's configuration alone); SSNL_CACHE_DIR overrides the folder.
_DEFAULT_CACHE_DIR = Path.home() / ".cache" / "ssnl" / "jax"


class ModelSpecError(Exception):
    """A MODEL argument that names no task, or a factory that does not return an ssnl.Task."""


def load_task(spec: str):
    """Return the `ssnl.Task` named by `spec`.

    `spec` is a task name known to `models.get_task`, `path/to/file.py:factory`, or
    `package.module:factory`, where `factory()` returns an `ssnl.Task`.

    Raises:
        ModelSpecError: With a one-line explanation when the task cannot be loaded.
    """
    from ssnl.task import Task

    if ":" not in spec:
        import models

        try:
            return models.get_task(spec)
        except ValueError as error:
            raise ModelSpecError(str(error)) from None

    location, _, factory_name = spec.rpartition(":")
    if not location or not factory_name:
        raise ModelSpecError(
            f"invalid MODEL {spec!r}: expected a task name, path/to/file.py:factory or "
            "package.module:factory"
        )
    if location.endswith(".py") or os.sep in location or "/" in location:
        path = Path(location)
        if not path.is_file():
            raise ModelSpecError(f"model file not found: {path}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:
            raise ModelSpecError(
                f"importing {path} failed: {type(error).__name__}: {error}"
            ) from error
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise ModelSpecError(f"cannot import module {location!r}: {error}") from error

    factory = getattr(module, factory_name, None)
    if factory is None:
        raise ModelSpecError(f"{location} has no factory named {factory_name!r}")
    if not callable(factory):
        raise ModelSpecError(f"{spec} is a {type(factory).__name__}, not a callable factory")
    try:
        task = factory()
    except Exception as error:
        raise ModelSpecError(
            f"calling the factory {spec} failed: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(task, Task):
        raise ModelSpecError(
            f"the factory {spec} returned a {type(task).__name__}, expected an ssnl.Task"
        )
    return task


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssnl",
        description="Simulation-based inference with surjective sequential neural likelihood "
        "estimation.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="fit the posterior of a task and write the results")
    fit.add_argument(
        "--model",
        required=True,
        help="task name (gaussian_linear, slcp), path/to/file.py:factory or "
        "package.module:factory, where factory() returns an ssnl.Task",
    )
    fit.add_argument("--rounds", type=_positive_int, default=10, help="number of rounds")
    fit.add_argument(
        "--simulations-per-round",
        type=_positive_int,
        default=1000,
        help="simulations added in each round",
    )
    fit.add_argument(
        "--num-samples",
        type=_positive_int,
        default=10_000,
        help="posterior draws in total over all chains (a multiple of --chains)",
    )
    fit.add_argument("--chains", type=_positive_int, default=10, help="number of MCMC chains")
    fit.add_argument("--seed", type=int, default=0, help="seed of the PRNG key")
    fit.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results folder (default: ssnl-results/<task name>-seed<seed>)",
    )
    fit.add_argument(
        "--exclude-invalid",
        action="store_true",
        help="drop simulations containing NaN or Inf (counted in rounds.csv) instead of "
        "stopping with an error",
    )
    fit.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _enable_compilation_cache() -> None:
    import jax

    cache_dir = os.environ.get("SSNL_CACHE_DIR", str(_DEFAULT_CACHE_DIR))
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _run_fit(args) -> int:
    import jax
    import pandas as pd

    import ssnl

    task = load_task(args.model)
    sampler = ssnl.SamplerConfig(num_chains=args.chains)
    output_dir = args.output or Path("ssnl-results") / f"{task.name}-seed{args.seed}"

    result = ssnl.fit(
        jax.random.key(args.seed),
        task,
        rounds=args.rounds,
        simulations_per_round=args.simulations_per_round,
        num_samples=args.num_samples,
        sampler=sampler,
        exclude_invalid=args.exclude_invalid,
        output_dir=output_dir,
        progress=not args.no_progress,
    )
    result.save(output_dir)

    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(f"Posterior of {task.name} ({args.num_samples} draws, {args.chains} chains):")
        print(result.summary().round(3).to_string())
        print()
        columns = ["round", "total_simulations", "validation_loss", "epochs", "max_rhat"]
        print(result.rounds_table()[columns].round(3).to_string(index=False))
    print(f"\nResults written to {output_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _enable_compilation_cache()

    try:
        if args.command == "fit":
            return _run_fit(args)
    except ModelSpecError as error:
        print(f"ssnl: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, NotImplementedError) as error:
        print(f"ssnl: error: {error}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
