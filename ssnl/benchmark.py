"""Benchmark runs on the sbibm tasks: fit, score against reference samples, report.

A run is one fit of one task observation with one method, simulation budget and seed. Each run
writes its posterior and the reference samples it was scored against to
`DIR/<task>/obs<K>/<method>-<N>-seed<S>/` and appends one row to `DIR/results.csv` as soon as
it finishes, so an interrupted benchmark keeps every finished run and skips them when started
again.

Methods:
    nle: one round of all N simulations from the prior, bijective flow.
    snle: `rounds` rounds of N / rounds simulations, each round after the first simulating
        from the previous posterior, bijective flow.
    ssnl: as snle, with the default dimension-reducing flow (`ssnl.FlowConfig()`). Tasks with
        fewer than 4 data dimensions get a bijective flow, so there ssnl and snle coincide.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from ssnl import diagnostics, metrics
from ssnl.inference import FitResult, FlowConfig, fit
from ssnl.mcmc import SamplerConfig

__all__ = [
    "METHODS",
    "PUBLISHED_C2ST",
    "RESULT_COLUMNS",
    "BenchmarkRun",
    "plan_runs",
    "read_results",
    "run_benchmark",
    "run_one",
    "write_report",
]

METHODS = ("ssnl", "snle", "nle")

RESULT_COLUMNS = (
    "task",
    "observation",
    "method",
    "simulations",
    "rounds",
    "seed",
    "c2st",
    "mmd",
    "wall_seconds",
    "simulate_seconds",
    "train_seconds",
    "sample_seconds",
    "invalid_simulations",
    "reference",
)

# MMD builds full kernel matrices, so it is computed on this many draws of each set, evenly
# spaced: 2,000 per side keeps the pooled 4,000 x 4,000 matrix at 128 MB.
MMD_SAMPLES = 2000


def _evenly_spaced(samples: np.ndarray, count: int) -> np.ndarray:
    """Return `count` rows spread over all of `samples`.

    Posterior draws are stored chain after chain, so the first rows would come from one or
    two chains only, which on a multimodal posterior can sit in a single mode.
    """
    if samples.shape[0] <= count:
        return samples
    return samples[np.linspace(0, samples.shape[0] - 1, count).astype(int)]


# Published C2ST of the likelihood-based methods, mean over the ten observations of each task,
# from the results table of Lueckmann et al. (2021), "Benchmarking Simulation-Based Inference"
# (AISTATS), as released with sbibm. Keys: task, then method, then simulation budget.
PUBLISHED_C2ST: dict[str, dict[str, dict[int, float]]] = {
    "bernoulli_glm": {
        "nle": {1000: 0.74, 10_000: 0.60, 100_000: 0.54},
        "snle": {1000: 0.63, 10_000: 0.55, 100_000: 0.52},
    },
    "bernoulli_glm_raw": {
        "nle": {1000: 0.87, 10_000: 0.94, 100_000: 0.95},
        "snle": {1000: 0.99, 10_000: 0.97, 100_000: 0.99},
    },
    "gaussian_linear": {
        "nle": {1000: 0.65, 10_000: 0.55, 100_000: 0.51},
        "snle": {1000: 0.63, 10_000: 0.55, 100_000: 0.52},
    },
    "gaussian_linear_uniform": {
        "nle": {1000: 0.72, 10_000: 0.55, 100_000: 0.51},
        "snle": {1000: 0.66, 10_000: 0.55, 100_000: 0.51},
    },
    "gaussian_mixture": {
        "nle": {1000: 0.81, 10_000: 0.73, 100_000: 0.76},
        "snle": {1000: 0.70, 10_000: 0.70, 100_000: 0.62},
    },
    "lotka_volterra": {
        "nle": {1000: 0.99, 10_000: 0.96, 100_000: 0.95},
        "snle": {1000: 0.91, 10_000: 0.74, 100_000: 0.70},
    },
    "sir": {
        "nle": {1000: 0.76, 10_000: 0.75, 100_000: 0.73},
        "snle": {1000: 0.75, 10_000: 0.74, 100_000: 0.65},
    },
    "slcp": {
        "nle": {1000: 0.95, 10_000: 0.77, 100_000: 0.70},
        "snle": {1000: 0.92, 10_000: 0.71, 100_000: 0.58},
    },
    "slcp_distractors": {
        "nle": {1000: 0.99, 10_000: 0.96, 100_000: 0.91},
        "snle": {1000: 0.99, 10_000: 0.95, 100_000: 0.88},
    },
    "two_moons": {
        "nle": {1000: 0.77, 10_000: 0.71, 100_000: 0.67},
        "snle": {1000: 0.66, 10_000: 0.57, 100_000: 0.58},
    },
}


@dataclasses.dataclass(frozen=True)
class BenchmarkRun:
    """One fit of a benchmark task.

    Attributes:
        task: Task name, one of `models.list_tasks()`.
        observation: Observation number, 1 to 10.
        method: One of `METHODS`.
        simulations: Total simulation budget.
        seed: Seed of the fit's PRNG key.
        rounds: Rounds of the sequential methods; `nle` always uses one.
    """

    task: str
    observation: int
    method: str
    simulations: int
    seed: int
    rounds: int = 10

    @property
    def num_rounds(self) -> int:
        """Rounds this run actually uses."""
        return 1 if self.method == "nle" else self.rounds

    @property
    def folder(self) -> Path:
        """Folder of this run relative to the benchmark folder."""
        return (
            Path(self.task)
            / f"obs{self.observation}"
            / f"{self.method}-{self.simulations}-seed{self.seed}"
        )

    def key(self) -> tuple:
        """Identify the run in `results.csv`."""
        return (
            self.task,
            self.observation,
            self.method,
            self.simulations,
            self.num_rounds,
            self.seed,
        )


def plan_runs(
    tasks: Sequence[str],
    observations: Sequence[int],
    methods: Sequence[str],
    simulations: Sequence[int],
    seeds: Sequence[int],
    rounds: int = 10,
    num_samples: int = 10_000,
) -> list[BenchmarkRun]:
    """Check the settings and list every combination as a run, before any fit starts.

    Raises:
        ValueError: On an unknown task or method, an observation outside 1 to 10, a budget
            that the rounds cannot split into equal rounds of at least 10, or a
            `num_samples` that the MCMC chains cannot share equally.
    """
    import models

    known = models.list_tasks()
    for task in tasks:
        if task not in known:
            raise ValueError(f"Unknown task {task!r}. Available tasks: {', '.join(known)}.")
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"Unknown method {method!r}; choose from {', '.join(METHODS)}.")
    for observation in observations:
        if not 1 <= observation <= 10:
            raise ValueError(
                f"Observation {observation} is outside 1 to 10; the benchmark tasks have ten "
                "observations each."
            )
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}.")
    num_chains = SamplerConfig().num_chains
    if num_samples < num_chains or num_samples % num_chains:
        suggestion = max(num_chains, -(-num_samples // num_chains) * num_chains)
        raise ValueError(
            f"num_samples (--num-samples) {num_samples} must be a positive multiple of the "
            f"{num_chains} MCMC chains of every benchmark run; use {suggestion}, for example."
        )
    sequential = any(method != "nle" for method in methods)
    for budget in simulations:
        if budget < 10:
            raise ValueError(f"A simulation budget of {budget} is too small; use at least 10.")
        if sequential and (budget % rounds or budget // rounds < 10):
            raise ValueError(
                f"A budget of {budget} simulations cannot be split into {rounds} equal rounds "
                "of at least 10 simulations. Use a multiple of "
                f"{rounds} that is at least {10 * rounds}, or change --rounds."
            )

    return [
        BenchmarkRun(task, observation, method, budget, seed, rounds)
        for task in tasks
        for observation in observations
        for budget in simulations
        for method in methods
        for seed in seeds
    ]


def _fit_run(run: BenchmarkRun, task, num_samples: int, progress: bool) -> FitResult:
    flow = FlowConfig() if run.method == "ssnl" else FlowConfig(latent_widths=())
    return fit(
        jax.random.key(run.seed),
        task,
        rounds=run.num_rounds,
        simulations_per_round=run.simulations // run.num_rounds,
        num_samples=num_samples,
        flow=flow,
        sampler=SamplerConfig(),
        # The ODE tasks return NaN where the solver fails at extreme prior draws. Such
        # simulations are dropped and counted in `invalid_simulations` instead of ending
        # the run.
        exclude_invalid=True,
        progress=progress,
    )


def run_one(
    run: BenchmarkRun,
    output_dir: str | Path,
    *,
    num_samples: int = 10_000,
    c2st_jobs: int | None = None,
    progress: bool = False,
) -> dict:
    """Fit one run, score it, and write its posterior and reference samples.

    The reference samples come from the task's `reference_sampler` with the key
    `jax.random.key(run.seed + 1)`: sbibm's stored samples when sbibm is installed, else the
    task's exact sampler. Without either, `c2st` and `mmd` are NaN.

    Returns:
        The row for `results.csv`, with the keys `RESULT_COLUMNS`.
    """
    import models

    task = models.get_task(run.task, observation=run.observation)
    run_dir = Path(output_dir) / run.folder
    run_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    result = _fit_run(run, task, num_samples, progress)
    wall_seconds = time.perf_counter() - start
    result.save(run_dir)

    samples = result.samples
    c2st = mmd = math.nan
    reference_source = "none"
    if task.reference_sampler is not None:
        reference = np.asarray(
            task.reference_sampler(jax.random.key(run.seed + 1), num_samples), dtype=np.float32
        )
        np.savez(run_dir / "reference.npz", samples=reference)
        c2st = metrics.c2st(reference, samples, num_jobs=c2st_jobs)
        mmd = metrics.mmd(
            _evenly_spaced(reference, MMD_SAMPLES), _evenly_spaced(samples, MMD_SAMPLES)
        )
        from_sbibm = models.observation_source(run.task, run.observation) == "sbibm"
        reference_source = "sbibm" if from_sbibm else "exact"

    rounds = result.rounds
    return {
        "task": run.task,
        "observation": run.observation,
        "method": run.method,
        "simulations": run.simulations,
        "rounds": run.num_rounds,
        "seed": run.seed,
        "c2st": c2st,
        "mmd": mmd,
        "wall_seconds": wall_seconds,
        "simulate_seconds": sum(record.simulate_seconds for record in rounds),
        "train_seconds": sum(record.train_seconds for record in rounds),
        "sample_seconds": sum(record.sample_seconds for record in rounds),
        "invalid_simulations": sum(record.invalid_simulations for record in rounds),
        "reference": reference_source,
    }


def read_results(output_dir: str | Path) -> list[dict]:
    """Read `results.csv` of a benchmark folder, with numbers parsed; [] if it is missing."""
    path = Path(output_dir) / "results.csv"
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            for name in ("observation", "simulations", "rounds", "seed", "invalid_simulations"):
                row[name] = int(row[name])
            for name in (
                "c2st",
                "mmd",
                "wall_seconds",
                "simulate_seconds",
                "train_seconds",
                "sample_seconds",
            ):
                row[name] = float(row[name])
            rows.append(row)
    return rows


def _row_key(row: dict) -> tuple:
    return (
        row["task"],
        row["observation"],
        row["method"],
        row["simulations"],
        row["rounds"],
        row["seed"],
    )


def _append_row(output_dir: Path, row: dict) -> None:
    path = output_dir / "results.csv"
    is_new = not path.is_file()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=RESULT_COLUMNS)
        if is_new:
            writer.writeheader()
        writer.writerow(row)


def run_benchmark(
    runs: Iterable[BenchmarkRun],
    output_dir: str | Path,
    *,
    num_samples: int = 10_000,
    c2st_jobs: int | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run every run that `output_dir/results.csv` does not list yet, appending its row.

    Returns:
        The rows of all requested runs, finished earlier or now, in the order of `runs`.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runs = list(runs)
    finished = {_row_key(row): row for row in read_results(output_dir)}
    pending = [run for run in runs if run.key() not in finished]
    if len(pending) < len(runs):
        tqdm.write(
            f"{len(runs) - len(pending)} of {len(runs)} runs are already in "
            f"{output_dir / 'results.csv'}; skipping them."
        )

    bar = tqdm(pending, desc="benchmark runs", unit="run", disable=not progress)
    for run in bar:
        bar.set_postfix_str(f"{run.task} obs{run.observation} {run.method} {run.simulations}")
        row = run_one(run, output_dir, num_samples=num_samples, c2st_jobs=c2st_jobs)
        _append_row(output_dir, row)
        finished[run.key()] = row
        tqdm.write(
            f"{run.task} obs{run.observation} {run.method} N={run.simulations} "
            f"seed={run.seed}: c2st={row['c2st']:.3f} wall={row['wall_seconds']:.1f}s"
        )
    return [finished[run.key()] for run in runs]


def _published(task: str, method: str, simulations: int) -> str:
    value = PUBLISHED_C2ST.get(task, {}).get(method, {}).get(simulations)
    return "" if value is None else f"{value:.2f}"


def _pair_plot(reference: np.ndarray, samples: np.ndarray, title: str, path: Path) -> None:
    """Draw a pair plot of posterior draws over reference samples and save it as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dim = samples.shape[1]
    # Scatter panels show 2,000 draws of each set, taken from every chain.
    shown_reference = _evenly_spaced(reference, 2000)
    shown_samples = _evenly_spaced(samples, 2000)
    size = min(2.0 * dim, 16.0)
    figure, axes = plt.subplots(dim, dim, figsize=(size, size), squeeze=False)
    for row in range(dim):
        for column in range(dim):
            axis = axes[row, column]
            axis.set_xticks([])
            axis.set_yticks([])
            if column > row:
                axis.set_axis_off()
            elif column == row:
                low = min(reference[:, row].min(), samples[:, row].min())
                high = max(reference[:, row].max(), samples[:, row].max())
                bins = np.linspace(low, high, 40)
                axis.hist(reference[:, row], bins=bins, density=True, color="0.6")
                axis.hist(samples[:, row], bins=bins, density=True, histtype="step", color="C0")
            else:
                axis.scatter(shown_reference[:, column], shown_reference[:, row], s=1, color="0.6")
                axis.scatter(shown_samples[:, column], shown_samples[:, row], s=1, color="C0")
            if row == dim - 1:
                axis.set_xlabel(f"theta[{column}]")
            if column == 0:
                axis.set_ylabel(f"theta[{row}]")
    figure.suptitle(f"{title}\ngrey: reference, blue: posterior")
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _summary_lines(rows: list[dict]) -> list[str]:
    """Build the markdown table of mean C2ST per task, method, budget and number of rounds."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["task"], row["method"], row["simulations"], row["rounds"])
        groups.setdefault(key, []).append(row)
    lines = [
        "| task | method | simulations | rounds | runs | observations | mean C2ST | "
        "published SNLE | published NLE | mean wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (task, method, simulations, rounds), group in sorted(groups.items()):
        observations = ", ".join(
            str(number) for number in sorted({r["observation"] for r in group})
        )
        mean_c2st = np.mean([r["c2st"] for r in group])
        mean_wall = np.mean([r["wall_seconds"] for r in group])
        lines.append(
            f"| {task} | {method} | {simulations} | {rounds} | {len(group)} | {observations} "
            f"| {mean_c2st:.3f} | {_published(task, 'snle', simulations)} "
            f"| {_published(task, 'nle', simulations)} | {mean_wall:.1f} |"
        )
    return lines


def write_report(output_dir: str | Path) -> Path:
    """Write `report.md` and a pair plot per run for the benchmark folder `output_dir`.

    The report starts with the mean C2ST of each task, method and budget over the runs. It
    then lists every row of `results.csv`. Both tables show the published C2ST of SNLE and NLE
    at the same budget, which are means over ten observations, so one observation's score can
    differ from them.

    Returns:
        The path of `report.md`.

    Raises:
        FileNotFoundError: If `output_dir` has no `results.csv`.
    """
    output_dir = Path(output_dir)
    rows = read_results(output_dir)
    if not rows:
        raise FileNotFoundError(
            f"{output_dir / 'results.csv'} is missing or empty; run 'ssnl benchmark --task ... "
            f"--output {output_dir}' first."
        )

    lines = [
        "| task | obs | method | simulations | seed | C2ST | MMD | published SNLE | "
        "published NLE | wall s | simulate s | train s | sample s | invalid | reference | plot |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=_row_key):
        run = BenchmarkRun(
            row["task"],
            row["observation"],
            row["method"],
            row["simulations"],
            row["seed"],
            row["rounds"],
        )
        plot = ""
        reference_path = output_dir / run.folder / "reference.npz"
        if reference_path.is_file():
            with np.load(reference_path) as stored:
                reference = stored["samples"]
            plot_path = output_dir / run.folder / "pairplot.png"
            title = f"{run.task} obs{run.observation} {run.method} N={run.simulations}"
            samples = diagnostics.load_posterior_samples(output_dir / run.folder / "posterior.nc")
            _pair_plot(reference, samples, title, plot_path)
            plot = f"[png]({plot_path.relative_to(output_dir).as_posix()})"
        lines.append(
            f"| {row['task']} | {row['observation']} | {row['method']} | {row['simulations']} "
            f"| {row['seed']} | {row['c2st']:.3f} | {row['mmd']:.4f} "
            f"| {_published(row['task'], 'snle', row['simulations'])} "
            f"| {_published(row['task'], 'nle', row['simulations'])} "
            f"| {row['wall_seconds']:.1f} | {row['simulate_seconds']:.1f} "
            f"| {row['train_seconds']:.1f} | {row['sample_seconds']:.1f} "
            f"| {row['invalid_simulations']} | {row['reference']} | {plot} |"
        )

    header = [
        "# Benchmark report",
        "",
        "## Means",
        "",
        "Mean C2ST of each task, method and budget over the observations and seeds run, next "
        "to the published means over ten observations.",
        "",
        *_summary_lines(rows),
        "",
        "## Runs",
        "",
        "C2ST by the sbibm protocol against the reference samples of each run (0.5 is "
        f"perfect, 1.0 is disjoint); MMD^2 on up to {MMD_SAMPLES} evenly spaced draws of each "
        "set. The published columns are means over the ten observations of each task "
        "(Lueckmann et al., 2021); they are blank for budgets other than the published 1,000, "
        "10,000 and 100,000 simulations. invalid: simulations dropped for NaN or Inf. "
        "reference: `sbibm` for sbibm's stored reference samples, `exact` for the task's exact "
        "sampler on its own seeded observation (not sbibm's, so not comparable with the "
        "published columns), `none` when the task has neither.",
        "",
    ]
    path = output_dir / "report.md"
    path.write_text("\n".join(header + lines) + "\n")
    return path
