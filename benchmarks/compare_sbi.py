"""Compare the wall time and accuracy of ssnl with sbi's neural likelihood estimation (NLE).

The script runs with ssnl's interpreter and runs sbi (PyTorch) in a second interpreter, a
virtual environment that contains sbi, the CPU build of PyTorch and this project. It was set up
and tested with these commands, run from the repository root:

    python3 -m venv /tmp/sbi-venv
    /tmp/sbi-venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    /tmp/sbi-venv/bin/pip install "sbi==0.27.*"
    /tmp/sbi-venv/bin/pip install .

Then, from the repository root:

    python benchmarks/compare_sbi.py --sbi-python /tmp/sbi-venv/bin/python --task slcp \\
        --simulations 10000 --num-samples 10000 --seed 0

Both packages run with their default estimator, training and MCMC settings, on the same task,
observation and JAX simulator, in two modes:

- `one-round`: N simulations are drawn from the prior once and saved as npz. Each package
  trains on exactly these and draws the posterior for the observation. The shared simulation
  time is printed separately and is not part of either wall time.
- `sequential`: `--rounds` rounds of N / rounds simulations, each package proposing from its
  own previous posterior (`ssnl.fit`, and sbi's multi-round NLE loop).

Each wall time covers simulation, training and sampling, in seconds, and includes ssnl's JAX
compilation. For sbi it is measured inside the worker process (`_sbi_worker.py`), after its
imports, so interpreter start-up is excluded. Each posterior is scored with `ssnl.metrics.c2st`
against reference samples from the task's `reference_sampler`; tasks without one get `nan`.
The last line reports the sequential mode:

    speedup_vs_sbi=<sbi wall / ssnl wall> c2st_ssnl=<score> c2st_sbi=<score>
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import models  # noqa: E402
import ssnl  # noqa: E402
from ssnl.metrics import c2st  # noqa: E402
from ssnl.simulate import simulate  # noqa: E402

WORKER = Path(__file__).with_name("_sbi_worker.py")
MODES = ("one-round", "sequential")
SETUP_COMMANDS = """\
    python3 -m venv /tmp/sbi-venv
    /tmp/sbi-venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    /tmp/sbi-venv/bin/pip install "sbi==0.27.*"
    /tmp/sbi-venv/bin/pip install .     # from the repository root
and pass --sbi-python /tmp/sbi-venv/bin/python."""


def _processor_name() -> str:
    """Return the CPU model name, which `platform.processor()` leaves empty on most Linux."""
    if platform.processor():
        return platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _ssnl_versions() -> dict:
    pyproject = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())
    return {
        "python": platform.python_version(),
        "ssnl": pyproject["project"]["version"],
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
    }


def _check_sbi_python(sbi_python: str) -> dict:
    """Return the versions that the worker reports in `sbi_python`, or exit with the fix."""
    if not Path(sbi_python).is_file() and shutil.which(sbi_python) is None:
        raise SystemExit(
            f"error: the sbi interpreter {sbi_python} was not found. Create it with\n"
            f"{SETUP_COMMANDS}"
        )
    completed = subprocess.run(
        [sbi_python, str(WORKER), "--versions"], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        last_line = (completed.stderr.strip().splitlines() or ["no error output"])[-1]
        raise SystemExit(
            f"error: {sbi_python} cannot run the sbi worker ({last_line}). It needs sbi, "
            f"PyTorch and this project's dependencies. Create the environment with\n"
            f"{SETUP_COMMANDS}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _run_sbi(args, work_dir: Path, mode: str, input_path: Path, **options) -> dict:
    """Run the worker in the sbi interpreter and return its timings and samples."""
    output_path = work_dir / f"sbi_{mode}.npz"
    command = [args.sbi_python, str(WORKER), "--mode", mode, "--task", args.task]
    command += ["--input", str(input_path), "--output", str(output_path)]
    command += ["--num-samples", str(args.num_samples), "--seed", str(args.seed)]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]

    log_path = work_dir / f"sbi_{mode}.log"
    # sbi writes TensorBoard logs to ./sbi-logs by default, so the worker runs in work_dir.
    with log_path.open("w") as log:
        completed = subprocess.run(command, cwd=work_dir, stdout=log, stderr=subprocess.STDOUT)
    if completed.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-20:])
        raise SystemExit(
            f"error: the sbi worker failed with exit code {completed.returncode} in mode "
            f"{mode}. Last lines of its output:\n{tail}"
        )

    report = json.loads(output_path.with_suffix(".json").read_text())
    with np.load(output_path) as arrays:
        report["samples"] = arrays["samples"]
    return report


def _run_ssnl(key, task, **fit_arguments) -> dict:
    """Fit `task` with ssnl's defaults and return its timings and samples."""
    start = time.perf_counter()
    result = ssnl.fit(key, task, progress=False, **fit_arguments)
    wall_seconds = time.perf_counter() - start
    rounds = result.rounds_table()
    return {
        "wall_seconds": wall_seconds,
        "simulate_seconds": float(rounds["simulate_seconds"].sum()),
        "train_seconds": float(rounds["train_seconds"].sum()),
        "sample_seconds": float(rounds["sample_seconds"].sum()),
        "num_simulations": int(result.theta.shape[0]),
        "samples": result.samples,
        "rounds": rounds.to_dict("records"),
    }


def _score(reference, samples) -> float:
    if reference is None:
        return math.nan
    return c2st(reference, samples)


def _print_result(mode: str, package: str, result: dict) -> None:
    print(
        f"mode={mode} package={package} wall_seconds={result['wall_seconds']:.2f} "
        f"simulate_seconds={result['simulate_seconds']:.2f} "
        f"train_seconds={result['train_seconds']:.2f} "
        f"sample_seconds={result['sample_seconds']:.2f} "
        f"simulations={result['num_simulations']} draws={result['samples'].shape[0]} "
        f"c2st={result['c2st']:.4f}",
        flush=True,
    )


def _compare_one_round(args, task, keys, work_dir: Path, reference) -> dict:
    prior_key, simulate_key, fit_key = keys
    start = time.perf_counter()
    theta = np.asarray(
        task.prior.sample(seed=prior_key, sample_shape=(args.simulations,)), dtype=np.float32
    )
    simulations = simulate(
        simulate_key, task.simulator, theta, data_dim=task.data_dim, task_name=task.name
    )
    print(
        f"mode=one-round shared_simulations={args.simulations} "
        f"simulate_seconds={time.perf_counter() - start:.2f} (in neither wall time)",
        flush=True,
    )
    input_path = work_dir / "one_round_input.npz"
    np.savez(input_path, theta=simulations.theta, y=simulations.y, observation=task.observation)

    results = {
        "ssnl": _run_ssnl(
            fit_key,
            task,
            rounds=1,
            simulations_per_round=args.simulations,
            num_samples=args.num_samples,
            initial_simulations=(simulations.theta, simulations.y),
        ),
        "sbi": _run_sbi(args, work_dir, "one-round", input_path),
    }
    for package, result in results.items():
        result["c2st"] = _score(reference, result["samples"])
        _print_result("one-round", package, result)
    return results


def _compare_sequential(args, task, fit_key, work_dir: Path, reference) -> dict:
    input_path = work_dir / "sequential_input.npz"
    np.savez(input_path, observation=task.observation)
    simulations_per_round = args.simulations // args.rounds
    results = {
        "ssnl": _run_ssnl(
            fit_key,
            task,
            rounds=args.rounds,
            simulations_per_round=simulations_per_round,
            num_samples=args.num_samples,
        ),
        "sbi": _run_sbi(
            args,
            work_dir,
            "sequential",
            input_path,
            rounds=args.rounds,
            simulations_per_round=simulations_per_round,
        ),
    }
    for package, result in results.items():
        result["c2st"] = _score(reference, result["samples"])
        _print_result(f"sequential-{args.rounds}-rounds", package, result)
    return results


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sbi-python",
        required=True,
        help="Python interpreter of the virtual environment with sbi and PyTorch",
    )
    parser.add_argument("--task", default="slcp", help="task name known to models.get_task")
    parser.add_argument(
        "--observation",
        type=int,
        default=1,
        help="observation number, 1 to 10, passed to models.get_task (default 1)",
    )
    parser.add_argument(
        "--simulations",
        type=int,
        default=10_000,
        help="simulations per package and mode, over all rounds (default 10000)",
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="rounds of the sequential mode (default 10)"
    )
    parser.add_argument(
        "--num-samples", type=int, default=10_000, help="posterior draws per run (default 10000)"
    )
    parser.add_argument(
        "--num-reference",
        type=int,
        help="reference samples for C2ST; default --num-samples, so that 0.5 is chance level",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=list(MODES),
        help="modes to run (default both); the summary line needs sequential",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the exchanged npz and JSON files and sbi's log in this folder",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()

    if args.simulations < 1 or args.rounds < 1 or args.num_samples < 1:
        parser.error("--simulations, --rounds and --num-samples must be positive")
    if args.simulations % args.rounds:
        parser.error(
            f"--simulations {args.simulations} is not a multiple of --rounds {args.rounds}; "
            "every round simulates the same number"
        )
    if args.num_reference is None:
        args.num_reference = args.num_samples
    return args


def main() -> None:
    args = _parse_arguments()
    sbi_versions = _check_sbi_python(args.sbi_python)
    ssnl_versions = _ssnl_versions()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {_processor_name()}")
    print(
        "ssnl side: "
        + ", ".join(f"{name} {value}" for name, value in ssnl_versions.items())
        + f" ({sys.executable})"
    )
    print(
        "sbi side: "
        + ", ".join(f"{name} {value}" for name, value in sbi_versions.items())
        + f" ({args.sbi_python})"
    )

    task = models.get_task(args.task, observation=args.observation)
    source = models.observation_source(args.task, args.observation)
    print(
        f"task={task.name} observation={args.observation} ({source}) "
        f"simulations={args.simulations} rounds={args.rounds} num_samples={args.num_samples} "
        f"seed={args.seed}",
        flush=True,
    )

    prior_key, simulate_key, reference_key, fit_key = jax.random.split(
        jax.random.key(args.seed), 4
    )
    reference = None
    if task.reference_sampler is None:
        print(f"task {task.name} has no reference sampler, so every c2st is nan")
    else:
        reference = np.asarray(task.reference_sampler(reference_key, args.num_reference))
        print(f"c2st against {reference.shape[0]} reference samples", flush=True)

    results = {}
    with tempfile.TemporaryDirectory(prefix="compare_sbi_") as temporary:
        work_dir = args.work_dir or Path(temporary)
        work_dir.mkdir(parents=True, exist_ok=True)
        if "one-round" in args.modes:
            keys = (prior_key, simulate_key, fit_key)
            results["one-round"] = _compare_one_round(args, task, keys, work_dir, reference)
        if "sequential" in args.modes:
            results["sequential"] = _compare_sequential(args, task, fit_key, work_dir, reference)

    if args.json is not None:
        serialisable = {
            mode: {
                package: {name: value for name, value in result.items() if name != "samples"}
                for package, result in by_package.items()
            }
            for mode, by_package in results.items()
        }
        record = {
            "arguments": {name: str(value) for name, value in vars(args).items()},
            "ssnl_versions": ssnl_versions,
            "sbi_versions": sbi_versions,
            "results": serialisable,
        }
        # NumPy scalars from the round tables become Python numbers.
        args.json.write_text(json.dumps(record, indent=2, default=lambda value: value.item()))

    if "sequential" in results:
        ssnl_result = results["sequential"]["ssnl"]
        sbi_result = results["sequential"]["sbi"]
        speedup = sbi_result["wall_seconds"] / ssnl_result["wall_seconds"]
        print(
            f"speedup_vs_sbi={speedup:.2f} c2st_ssnl={ssnl_result['c2st']:.4f} "
            f"c2st_sbi={sbi_result['c2st']:.4f}"
        )


if __name__ == "__main__":
    main()
