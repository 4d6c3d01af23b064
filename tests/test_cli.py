import subprocess
import sys
import textwrap

import arviz as az
import numpy as np
import pandas as pd
import pytest

from ssnl.cli import ModelSpecError, load_task, main

USER_MODEL = textwrap.dedent(
    """
    import distrax
    import jax
    import jax.numpy as jnp

    import ssnl


    def simulate(key, theta):
        return theta + 0.1 * jax.random.normal(key, theta.shape)


    def make_task():
        prior = distrax.MultivariateNormalDiag(jnp.zeros(2), jnp.ones(2))
        return ssnl.Task("shifted_normal", prior, simulate, jnp.array([0.5, -0.5]))


    def make_other():
        return "not a task"


    def make_broken():
        raise RuntimeError("simulator library missing")
    """
)


@pytest.fixture
def user_model(tmp_path):
    path = tmp_path / "user_model.py"
    path.write_text(USER_MODEL)
    return path


@pytest.fixture(autouse=True)
def compilation_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSNL_CACHE_DIR", str(tmp_path / "jax-cache"))


def test_user_factory_fit_writes_results(user_model, tmp_path, capsys):
    output = tmp_path / "results"
    status = main(
        [
            "fit",
            "--model",
            f"{user_model}:make_task",
            "--rounds",
            "2",
            "--simulations-per-round",
            "300",
            "--num-samples",
            "2000",
            "--chains",
            "4",
            "--seed",
            "3",
            "--output",
            str(output),
            "--no-progress",
        ]
    )
    assert status == 0

    printed = capsys.readouterr().out
    assert "theta[0]" in printed
    assert "r_hat" in printed

    summary = pd.read_csv(output / "summary.csv", index_col=0)
    assert list(summary.index) == ["theta[0]", "theta[1]"]
    assert {"mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat"} <= set(
        summary.columns
    )
    # Exact posterior: N(y_o / (1 + 0.1^2), 0.1^2 / (1 + 0.1^2)), so mean +-0.495 and sd 0.0995.
    # 0.05 is half the posterior sd: loose enough for a flow trained on 600 simulations, tight
    # enough to catch a swapped or unconditioned parameter.
    np.testing.assert_allclose(summary["mean"], [0.495, -0.495], atol=0.05)
    np.testing.assert_allclose(summary["sd"], 0.0995, atol=0.05)

    rounds = pd.read_csv(output / "rounds.csv")
    assert list(rounds["total_simulations"]) == [300, 600]
    for column in (
        "train_loss",
        "validation_loss",
        "epochs",
        "simulate_seconds",
        "train_seconds",
        "sample_seconds",
        "max_rhat",
        "min_ess",
        "divergences",
    ):
        assert column in rounds.columns

    data = az.from_netcdf(str(output / "posterior.nc"))
    assert data["posterior"]["theta"].dims == ("chain", "draw", "theta_dim")
    assert data["posterior"]["theta"].shape == (4, 500, 2)
    assert {"diverging", "acceptance_rate"} <= set(data["sample_stats"].data_vars)
    np.testing.assert_allclose(data["observed_data"]["y"].values, [0.5, -0.5])

    for round_number in (1, 2):
        saved = np.load(output / f"simulations_round{round_number:02d}.npz")
        assert saved["theta"].shape == (300, 2)
        assert saved["y"].shape == (300, 2)


def test_load_task_by_name():
    task = load_task("gaussian_linear")
    assert task.name == "gaussian_linear"


def test_load_task_from_module(user_model, monkeypatch):
    monkeypatch.syspath_prepend(str(user_model.parent))
    assert load_task("user_model:make_task").name == "shifted_normal"


@pytest.mark.parametrize(
    "suffix, message",
    [
        (":make_missing", "has no factory named 'make_missing'"),
        (":make_other", "returned a str, expected an ssnl.Task"),
        (":make_broken", "RuntimeError: simulator library missing"),
    ],
)
def test_bad_factory_rejected(user_model, suffix, message):
    with pytest.raises(ModelSpecError, match=message):
        load_task(f"{user_model}{suffix}")


def test_unknown_task_rejected():
    with pytest.raises(ModelSpecError, match="no_such_task"):
        load_task("no_such_task")


def test_missing_file_rejected(tmp_path):
    with pytest.raises(ModelSpecError, match="model file not found"):
        load_task(f"{tmp_path}/absent.py:make_task")


def test_bad_model_exits_with_one_line(user_model):
    completed = subprocess.run(
        [sys.executable, "-m", "ssnl", "fit", "--model", f"{user_model}:make_other"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ssnl: error:")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--num-samples", "1005", "--num-samples 1005 is not a multiple of --chains 50"),
        ("--simulations-per-round", "5", "--simulations-per-round 5 is below 10"),
    ],
)
def test_invalid_fit_sizes_exit_two_before_writing(tmp_path, capsys, option, value, message):
    output_dir = tmp_path / "fit"
    status = main(["fit", "--model", "slcp", option, value, "--output", str(output_dir)])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not output_dir.exists()
