"""Tests for the benchmark runner and report, `ssnl.benchmark` and `ssnl benchmark`."""

import csv

import numpy as np
import pytest

from ssnl import benchmark, cli, diagnostics, metrics


def test_plan_runs_lists_every_combination():
    runs = benchmark.plan_runs(
        ["gaussian_linear", "slcp"], [1, 2], ["ssnl", "nle"], [1000], [0, 1], rounds=10
    )

    assert len(runs) == 2 * 2 * 2 * 2
    assert len({run.key() for run in runs}) == len(runs)
    nle = [run for run in runs if run.method == "nle"]
    assert all(run.num_rounds == 1 for run in nle)
    assert runs[0].folder.as_posix() == "gaussian_linear/obs1/ssnl-1000-seed0"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tasks": ["no_such_task"]}, "Unknown task 'no_such_task'"),
        ({"methods": ["snpe"]}, "Unknown method 'snpe'"),
        ({"observations": [11]}, "Observation 11 is outside 1 to 10"),
        ({"simulations": [1005]}, "cannot be split into 10 equal rounds"),
        ({"simulations": [50]}, "cannot be split into 10 equal rounds"),
        ({"num_samples": 1005}, "multiple of the 50 MCMC chains"),
    ],
)
def test_plan_runs_rejects_bad_settings(arguments, message):
    settings = {
        "tasks": ["gaussian_linear"],
        "observations": [1],
        "methods": ["ssnl"],
        "simulations": [1000],
        "seeds": [0],
    }
    settings.update(arguments)

    with pytest.raises(ValueError, match=message):
        benchmark.plan_runs(**settings)


def test_nle_accepts_budget_not_divisible_by_rounds():
    runs = benchmark.plan_runs(["gaussian_linear"], [1], ["nle"], [1005], [0])

    assert runs[0].num_rounds == 1


def test_published_table_covers_ten_tasks():
    assert len(benchmark.PUBLISHED_C2ST) == 10
    for methods in benchmark.PUBLISHED_C2ST.values():
        assert set(methods) == {"nle", "snle"}
        for scores in methods.values():
            assert set(scores) == {1000, 10_000, 100_000}
            assert all(0.5 <= score <= 1.0 for score in scores.values())


def _read_csv(path):
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def benchmark_dir(tmp_path_factory):
    """Run one small benchmark through the command line, shared by the tests below.

    two_moons has 2 parameters, so its C2ST classifier is small and the run stays fast.
    """
    output_dir = tmp_path_factory.mktemp("bench")
    status = cli.main(
        [
            "benchmark",
            "--task",
            "two_moons",
            "--observation",
            "1",
            "--method",
            "nle",
            "--simulations",
            "300",
            "--num-samples",
            "500",
            "--seed",
            "3",
            "--output",
            str(output_dir),
            "--no-progress",
        ]
    )
    assert status == 0
    return output_dir


def test_benchmark_writes_results_row(benchmark_dir):
    rows = _read_csv(benchmark_dir / "results.csv")

    assert len(rows) == 1
    row = rows[0]
    assert tuple(row) == benchmark.RESULT_COLUMNS
    assert (row["task"], row["observation"], row["method"]) == ("two_moons", "1", "nle")
    assert (row["simulations"], row["rounds"], row["seed"]) == ("300", "1", "3")
    assert 0.4 <= float(row["c2st"]) <= 1.0
    assert float(row["wall_seconds"]) > 0.0
    phases = sum(float(row[f"{phase}_seconds"]) for phase in ("simulate", "train", "sample"))
    assert phases <= float(row["wall_seconds"])


def test_benchmark_c2st_matches_saved_samples(benchmark_dir):
    run_dir = benchmark_dir / "two_moons" / "obs1" / "nle-300-seed3"
    samples = diagnostics.load_posterior_samples(run_dir / "posterior.nc")
    with np.load(run_dir / "reference.npz") as stored:
        reference = stored["samples"]
    row = _read_csv(benchmark_dir / "results.csv")[0]

    assert samples.shape == (500, 2)
    assert reference.shape == (500, 2)
    # The same protocol with the same seed on the same files must give the same score, up to
    # float32 rounding of the saved draws.
    assert metrics.c2st(reference, samples) == pytest.approx(float(row["c2st"]), abs=1e-6)


def test_benchmark_skips_finished_runs(benchmark_dir, capsys):
    before = (benchmark_dir / "results.csv").read_text()

    runs = benchmark.plan_runs(["two_moons"], [1], ["nle"], [300], [3], num_samples=500)
    rows = benchmark.run_benchmark(runs, benchmark_dir, num_samples=500, progress=False)

    assert (benchmark_dir / "results.csv").read_text() == before
    assert rows[0]["simulations"] == 300
    assert "1 of 1 runs are already in" in capsys.readouterr().out


def test_report_writes_table_and_plot(benchmark_dir):
    assert cli.main(["benchmark", "report", str(benchmark_dir)]) == 0

    report = (benchmark_dir / "report.md").read_text()
    assert "| two_moons | 1 | nle | 300 | 3 |" in report
    plot = benchmark_dir / "two_moons" / "obs1" / "nle-300-seed3" / "pairplot.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_results_fails(tmp_path, capsys):
    assert cli.main(["benchmark", "report", str(tmp_path)]) == 1
    assert "results.csv is missing or empty" in capsys.readouterr().err


def test_benchmark_list_prints_tasks(capsys):
    assert cli.main(["benchmark", "--list"]) == 0

    output = capsys.readouterr().out
    assert "slcp: 5 parameters, 8 data dimensions" in output
    assert "gaussian_linear: 10 parameters, 10 data dimensions" in output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--output", "somewhere"], "--task"),
        (["--task", "slcp"], "--output DIR"),
        (["summary", "somewhere"], "'ssnl benchmark report DIR'"),
        (["--task", "two_moon", "--output", "somewhere"], "unknown task 'two_moon'"),
    ],
)
def test_benchmark_missing_arguments(arguments, message, capsys):
    assert cli.main(["benchmark", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_mmd_subset_spans_all_chains():
    # Ten chains of 1,000 draws stored chain after chain, each chain marked by its number.
    samples = np.repeat(np.arange(10.0), 1000)[:, None]

    subset = benchmark._evenly_spaced(samples, 2000)

    assert subset.shape == (2000, 1)
    assert set(np.unique(subset[:, 0])) == set(range(10))
    np.testing.assert_array_equal(benchmark._evenly_spaced(samples[:50], 2000), samples[:50])


def test_report_means_group_observations():
    def row(observation, method, c2st, wall):
        return {
            "task": "two_moons",
            "observation": observation,
            "method": method,
            "simulations": 1000,
            "rounds": 10,
            "seed": 0,
            "c2st": c2st,
            "wall_seconds": wall,
        }

    rows = [row(1, "ssnl", 0.6, 10.0), row(3, "ssnl", 0.8, 20.0), row(2, "snle", 0.55, 5.0)]
    lines = benchmark._summary_lines(rows)

    # Published two_moons means at 1,000 simulations: SNLE 0.66, NLE 0.77.
    assert lines[2:] == [
        "| two_moons | snle | 1000 | 10 | 1 | 2 | 0.550 | 0.66 | 0.77 | 5.0 |",
        "| two_moons | ssnl | 1000 | 10 | 2 | 1, 3 | 0.700 | 0.66 | 0.77 | 15.0 |",
    ]
