"""Command line: `ssnl fit --model MODEL ...` and `ssnl benchmark ...`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import sys
import warnings
from pathlib import Path

__all__ = ["main", "load_task", "CommandLineError", "ModelSpecError"]

logger = logging.getLogger("ssnl")

# JAX's persistent compilation cache lets a second run skip compilation. The command line sets
# it (library code leaves JAX's configuration alone); SSNL_CACHE_DIR overrides the folder.
_DEFAULT_CACHE_DIR = Path.home() / ".cache" / "ssnl" / "jax"


class CommandLineError(Exception):
    """An invalid command line (exit status 2), found before any work starts."""


class ModelSpecError(CommandLineError):
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
            hint = ""
            if spec.endswith(".py"):
                hint = f" To load a task from a file, name its factory: {spec}:make_task."
            raise ModelSpecError(f"{error}{hint}") from None

    location, _, factory_name = spec.rpartition(":")
    if not location or not factory_name:
        raise ModelSpecError(
            f"invalid MODEL {spec!r}: expected a task name, path/to/file.py:factory or "
            "package.module:factory"
        )
    if _is_file_location(location):
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
        # Like `python -m`, look for the module in the working directory too.
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise ModelSpecError(
                f"cannot import module {location!r}: {error}. Install the package that "
                "contains it, or give the file path as path/to/file.py:factory."
            ) from error

    factory = getattr(module, factory_name, None)
    if factory is None:
        raise ModelSpecError(f"{location} has no factory named {factory_name!r}")
    if not callable(factory):
        raise ModelSpecError(
            f"{spec} is an object of type {type(factory).__name__}, not a callable factory"
        )
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
        help="task name (listed by 'ssnl benchmark --list'), path/to/file.py:factory or "
        "package.module:factory, where factory() returns an ssnl.Task",
    )
    fit.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the fit whose results folder is DIR after its last complete round, "
        "with its stored settings and without simulating again; --rounds may raise the "
        "number of rounds",
    )
    fit.add_argument(
        "--rounds", type=_positive_int, default=None, help="number of rounds (default 10)"
    )
    fit.add_argument(
        "--simulations-per-round",
        type=_positive_int,
        help="simulations added in each round (at least 10, default 1000)",
    )
    fit.add_argument(
        "--num-samples",
        type=_positive_int,
        help="posterior draws in total over all chains (a multiple of --chains, default 10000)",
    )
    fit.add_argument(
        "--chains",
        type=_positive_int,
        help="number of MCMC chains (default 50)",
    )
    fit.add_argument(
        "--warmup",
        type=_positive_int,
        help="adaptation steps per chain, discarded (default 50)",
    )
    fit.add_argument(
        "--sampler",
        choices=["nuts", "mala", "rwm", "slice"],
        help="MCMC algorithm: NUTS, MALA, random-walk Metropolis or slice sampling (default nuts)",
    )
    fit.add_argument("--seed", type=int, help="seed of the PRNG key (default 0)")
    fit.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results folder (default: ssnl-results/<task name>-seed<seed>)",
    )
    fit.add_argument(
        "--exclude-invalid",
        action="store_true",
        default=None,
        help="drop simulations containing NaN or Inf (counted in rounds.csv) instead of "
        "stopping with an error",
    )
    fit.add_argument("--no-progress", action="store_true", help="hide progress bars")

    _add_benchmark_parser(commands)
    return parser


def _add_benchmark_parser(commands) -> None:
    benchmark = commands.add_parser(
        "benchmark",
        help="fit sbibm benchmark tasks and score them with C2ST, or write a report",
        description="Run benchmark fits: 'ssnl benchmark --task T --output DIR' appends one "
        "row per run to DIR/results.csv and skips runs already there. 'ssnl benchmark "
        "report DIR' writes DIR/report.md and a pair plot per run. 'ssnl benchmark --list' "
        "prints the tasks.",
    )
    benchmark.add_argument(
        "report", nargs="*", metavar="report DIR", help="write the report of the folder DIR"
    )
    benchmark.add_argument("--list", action="store_true", help="print the task names and exit")

    # The runs: every combination of the values below is fitted once.
    benchmark.add_argument("--task", nargs="+", help="task names (see --list)")
    benchmark.add_argument(
        "--observation",
        nargs="+",
        type=_positive_int,
        default=[1],
        help="observation numbers, 1 to 10 (default 1)",
    )
    benchmark.add_argument(
        "--simulations",
        nargs="+",
        type=_positive_int,
        default=[1000],
        help="total simulation budgets of a fit (default 1000)",
    )
    benchmark.add_argument(
        "--method",
        nargs="+",
        choices=["ssnl", "snle", "nle"],
        default=["ssnl"],
        help="ssnl: sequential rounds with a dimension-reducing flow; snle: the same rounds "
        "with a bijective flow; nle: one round of all simulations from the prior with a "
        "bijective flow (default ssnl)",
    )
    benchmark.add_argument(
        "--seed", nargs="+", type=int, default=[0], help="seeds of the fits (default 0)"
    )
    benchmark.add_argument(
        "--rounds", type=_positive_int, default=10, help="rounds of ssnl and snle (default 10)"
    )

    # Scoring and output.
    benchmark.add_argument(
        "--num-samples",
        type=_positive_int,
        default=10_000,
        help="posterior draws and reference samples per run (default 10000, the sbibm protocol)",
    )
    benchmark.add_argument(
        "--c2st-jobs",
        type=int,
        default=None,
        help="processes that train the C2ST folds in parallel (-1: all cores; default 1)",
    )
    benchmark.add_argument("--output", type=Path, help="benchmark folder")
    benchmark.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _enable_compilation_cache() -> None:
    import jax

    cache_dir = os.environ.get("SSNL_CACHE_DIR", str(_DEFAULT_CACHE_DIR))
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


# Arguments stored in the results folder so that `--resume DIR` can repeat them, with the
# defaults of a new fit. Their parser defaults are None, which separates a value given with
# --resume from one left out.
_STORED_DEFAULTS = {
    "model": None,
    "rounds": 10,
    "simulations_per_round": 1000,
    "num_samples": 10_000,
    "chains": 50,
    "warmup": 50,
    "sampler": "nuts",
    "seed": 0,
    "exclude_invalid": False,
}


def _resolve_arguments(args) -> Path:
    """Fill `args` from a stored command when resuming; return the results folder."""
    if args.resume is not None:
        command_path = args.resume / "command.json"
        if not command_path.is_file():
            raise CommandLineError(
                f"cannot resume from {args.resume}: command.json is missing, so it is not a "
                "results folder of 'ssnl fit'"
            )
        fixed_options = [
            name
            for name in (*_STORED_DEFAULTS, "output")
            if name != "rounds" and getattr(args, name) is not None
        ]
        if fixed_options:
            option = "--" + fixed_options[0].replace("_", "-")
            raise CommandLineError(
                f"{option} cannot be combined with --resume: the fit continues with the "
                f"settings stored in {command_path}; only --rounds may change"
            )
        stored = json.loads(command_path.read_text())
        requested_rounds = args.rounds
        # Folders written before --warmup existed sampled with 300 warm-up steps.
        stored.setdefault("warmup", 300)
        for name in _STORED_DEFAULTS:
            setattr(args, name, stored[name])
        if requested_rounds is not None:
            args.rounds = requested_rounds
        return args.resume

    if args.model is None:
        raise CommandLineError("the following argument is required: --model (or --resume DIR)")
    for name, default in _STORED_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args.output


def _is_file_location(location: str) -> bool:
    """Return whether the part of a MODEL spec before `:` names a file, not a module."""
    return location.endswith(".py") or os.sep in location or "/" in location


def _absolute_model_spec(spec: str) -> str:
    """Make a `path/to/file.py:factory` spec absolute, so --resume works from any folder."""
    location, _, factory_name = spec.rpartition(":")
    if location and factory_name and _is_file_location(location):
        return f"{Path(location).resolve()}:{factory_name}"
    return spec


def _run_fit(args) -> int:
    import jax
    import pandas as pd

    import ssnl

    output_dir = _resolve_arguments(args)
    if args.num_samples % args.chains:
        raise CommandLineError(
            f"--num-samples {args.num_samples} is not a multiple of --chains {args.chains}; "
            "every chain contributes the same number of draws. Use --num-samples "
            f"{-(-args.num_samples // args.chains) * args.chains}, for example."
        )
    if args.simulations_per_round < 10:
        raise CommandLineError(
            f"--simulations-per-round {args.simulations_per_round} is below 10; each round "
            "needs at least 10 simulations to leave a validation split"
        )
    task = load_task(args.model)
    sampler = ssnl.SamplerConfig(
        algorithm=args.sampler, num_chains=args.chains, num_warmup=args.warmup
    )
    output_dir = output_dir or Path("ssnl-results") / f"{task.name}-seed{args.seed}"
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"--output {output_dir} is a file, not a folder")
    if args.resume is None:
        if (output_dir / "settings.json").exists():
            raise FileExistsError(
                f"{output_dir} already contains a fit; continue it with --resume {output_dir} "
                "or choose another folder with --output"
            )
        output_dir.mkdir(parents=True, exist_ok=True)
        stored = {name: getattr(args, name) for name in _STORED_DEFAULTS}
        stored["model"] = _absolute_model_spec(args.model)
        (output_dir / "command.json").write_text(json.dumps(stored, indent=2))

    result = ssnl.fit(
        jax.random.key(args.seed),
        task,
        rounds=args.rounds,
        simulations_per_round=args.simulations_per_round,
        num_samples=args.num_samples,
        sampler=sampler,
        exclude_invalid=args.exclude_invalid,
        output_dir=output_dir,
        resume=args.resume is not None,
        progress=not args.no_progress,
    )
    result.save(output_dir)
    if args.resume is not None:
        # A later --resume without --rounds then continues to the last requested number.
        command_path = output_dir / "command.json"
        stored = json.loads(command_path.read_text())
        stored["rounds"] = args.rounds
        command_path.write_text(json.dumps(stored, indent=2))

    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(f"Posterior of {task.name} ({args.num_samples} draws, {args.chains} chains):")
        print(result.summary().round(3).to_string())
        print()
        columns = ["round", "total_simulations", "validation_loss", "epochs", "max_rhat"]
        print(result.rounds_table()[columns].round(3).to_string(index=False))
    print(f"\nResults written to {output_dir}")
    return 0


def _run_benchmark(args) -> int:
    import models
    from ssnl import benchmark

    if args.list:
        for name in models.list_tasks():
            task = models.get_task(name)
            print(f"{name}: {task.theta_dim} parameters, {task.data_dim} data dimensions")
        return 0
    if args.report:
        if len(args.report) != 2 or args.report[0] != "report":
            raise ModelSpecError(
                f"unexpected arguments {' '.join(args.report)!r}; the only positional form is "
                "'ssnl benchmark report DIR'"
            )
        path = benchmark.write_report(Path(args.report[1]))
        print(f"Report written to {path}")
        return 0
    if not args.task:
        raise ModelSpecError("the following argument is required: --task (or --list)")
    if args.output is None:
        raise ModelSpecError("the following argument is required: --output DIR")
    known_tasks = models.list_tasks()
    unknown = [name for name in args.task if name not in known_tasks]
    if unknown:
        raise ModelSpecError(
            f"unknown task {unknown[0]!r}; 'ssnl benchmark --list' prints the available tasks"
        )

    runs = benchmark.plan_runs(
        args.task,
        args.observation,
        args.method,
        args.simulations,
        args.seed,
        args.rounds,
        args.num_samples,
    )
    rows = benchmark.run_benchmark(
        runs,
        args.output,
        num_samples=args.num_samples,
        c2st_jobs=args.c2st_jobs,
        progress=not args.no_progress,
    )
    print(f"Requested runs ({len(rows)}):")
    for row in rows:
        print(
            f"{row['task']} obs{row['observation']} {row['method']} {row['simulations']} "
            f"seed{row['seed']}: c2st={row['c2st']:.3f} mmd={row['mmd']:.4f} "
            f"wall={row['wall_seconds']:.1f}s"
        )
    print(f"All {len(rows)} requested runs are in {args.output / 'results.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    # ArviZ 0.23 prints a notice about its 1.x refactor on the first import each day; it is not
    # about this run, so the command line keeps it out of its output.
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _enable_compilation_cache()

    try:
        if args.command == "fit":
            return _run_fit(args)
        if args.command == "benchmark":
            return _run_benchmark(args)
    except CommandLineError as error:
        print(f"ssnl: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, NotImplementedError, FileExistsError, FileNotFoundError) as error:
        print(f"ssnl: error: {error}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
