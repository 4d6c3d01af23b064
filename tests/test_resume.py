import json

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import ssnl
from ssnl.cli import main

SETTINGS = {
    "rounds": 4,
    "simulations_per_round": 200,
    "num_samples": 400,
    "sampler": ssnl.SamplerConfig(num_chains=2, num_warmup=100),
    "progress": False,
}


class CountingSimulator:
    """Adds N(0, 0.1^2) noise to theta, counts calls and can fail on one call."""

    def __init__(self, fail_on_call=None):
        self.num_calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, key, theta):
        self.num_calls += 1
        if self.num_calls == self.fail_on_call:
            raise RuntimeError("simulator crashed")
        return theta + 0.1 * jax.random.normal(key, theta.shape)


def _task(simulator):
    prior = distrax.MultivariateNormalDiag(jnp.zeros(2), jnp.ones(2))
    return ssnl.Task("resumable", prior, simulator, jnp.array([0.3, -0.3]))


def _saved_simulations(output_dir, round_number):
    with np.load(output_dir / f"simulations_round{round_number:02d}.npz") as arrays:
        return arrays["theta"].copy(), arrays["y"].copy()


def test_crash_then_resume_redoes_nothing(tmp_path):
    output_dir = tmp_path / "fit"
    key = jax.random.key(11)
    with pytest.raises(RuntimeError, match="simulator crashed"):
        ssnl.fit(key, _task(CountingSimulator(fail_on_call=3)), output_dir=output_dir, **SETTINGS)
    assert (output_dir / "round_02.json").is_file()
    assert not (output_dir / "round_03.json").exists()
    before = [_saved_simulations(output_dir, number) for number in (1, 2)]

    simulator = CountingSimulator()
    resumed = ssnl.fit(key, _task(simulator), output_dir=output_dir, resume=True, **SETTINGS)

    assert simulator.num_calls == 2
    assert [record.round for record in resumed.rounds] == [1, 2, 3, 4]
    for number, (theta, y) in zip((1, 2), before, strict=True):
        saved_theta, saved_y = _saved_simulations(output_dir, number)
        np.testing.assert_array_equal(saved_theta, theta)
        np.testing.assert_array_equal(saved_y, y)
        np.testing.assert_array_equal(resumed.theta[(number - 1) * 200 : number * 200], theta)

    uninterrupted = ssnl.fit(key, _task(CountingSimulator()), **SETTINGS)
    # Both runs do the same float32 computations from the same keys and saved arrays; 1e-5
    # allows for compilations that order sums differently.
    np.testing.assert_allclose(resumed.samples, uninterrupted.samples, rtol=1e-5, atol=1e-5)


def test_new_fit_into_used_folder_rejected(tmp_path):
    output_dir = tmp_path / "fit"
    settings = {**SETTINGS, "rounds": 1}
    ssnl.fit(jax.random.key(0), _task(CountingSimulator()), output_dir=output_dir, **settings)
    with pytest.raises(FileExistsError, match="already contains a fit"):
        ssnl.fit(jax.random.key(0), _task(CountingSimulator()), output_dir=output_dir, **settings)


def test_resume_with_other_settings_rejected(tmp_path):
    output_dir = tmp_path / "fit"
    settings = {**SETTINGS, "rounds": 1}
    ssnl.fit(jax.random.key(0), _task(CountingSimulator()), output_dir=output_dir, **settings)
    with pytest.raises(ValueError, match="simulations_per_round: stored 200, requested 300"):
        ssnl.fit(
            jax.random.key(0),
            _task(CountingSimulator()),
            output_dir=output_dir,
            resume=True,
            **{**settings, "simulations_per_round": 300},
        )


def test_resume_fewer_rounds_rejected(tmp_path):
    output_dir = tmp_path / "fit"
    settings = {**SETTINGS, "rounds": 2}
    ssnl.fit(jax.random.key(0), _task(CountingSimulator()), output_dir=output_dir, **settings)
    simulator = CountingSimulator()
    with pytest.raises(ValueError, match="already contains 2 complete rounds, more than rounds=1"):
        ssnl.fit(
            jax.random.key(0),
            _task(simulator),
            output_dir=output_dir,
            resume=True,
            **{**settings, "rounds": 1},
        )
    assert simulator.num_calls == 0


def test_resume_finished_fit_warns(tmp_path, caplog):
    output_dir = tmp_path / "fit"
    settings = {**SETTINGS, "rounds": 1}
    first = ssnl.fit(
        jax.random.key(0), _task(CountingSimulator()), output_dir=output_dir, **settings
    )
    simulator = CountingSimulator()
    with caplog.at_level("WARNING", logger="ssnl"):
        again = ssnl.fit(
            jax.random.key(0), _task(simulator), output_dir=output_dir, resume=True, **settings
        )
    assert simulator.num_calls == 0
    assert "all 1 rounds" in caplog.text
    assert "no new simulations" in caplog.text
    np.testing.assert_array_equal(again.samples, first.samples)


def test_command_line_resume_adds_rounds(tmp_path, monkeypatch):
    monkeypatch.setenv("SSNL_CACHE_DIR", str(tmp_path / "jax-cache"))
    output_dir = tmp_path / "cli-fit"
    arguments = ["fit", "--model", "gaussian_linear", "--rounds", "1"]
    arguments += ["--simulations-per-round", "200", "--num-samples", "400", "--chains", "2"]
    arguments += ["--warmup", "30", "--output", str(output_dir), "--no-progress"]
    assert main(arguments) == 0
    first_theta, first_y = _saved_simulations(output_dir, 1)
    command = json.loads((output_dir / "command.json").read_text())
    assert command["model"] == "gaussian_linear"
    assert command["warmup"] == 30
    settings = json.loads((output_dir / "settings.json").read_text())
    assert settings["sampler"]["num_warmup"] == 30

    assert main(["fit", "--resume", str(output_dir), "--rounds", "2", "--no-progress"]) == 0

    rounds = pd.read_csv(output_dir / "rounds.csv")
    assert list(rounds["round"]) == [1, 2]
    assert list(rounds["total_simulations"]) == [200, 400]
    theta, y = _saved_simulations(output_dir, 1)
    np.testing.assert_array_equal(theta, first_theta)
    np.testing.assert_array_equal(y, first_y)

    # Without --rounds, the resumed fit keeps the 2 rounds requested last, so nothing new runs.
    assert main(["fit", "--resume", str(output_dir), "--no-progress"]) == 0
    assert json.loads((output_dir / "command.json").read_text())["rounds"] == 2
    assert list(pd.read_csv(output_dir / "rounds.csv")["round"]) == [1, 2]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--chains", "4"),
        ("--warmup", "100"),
        ("--model", "slcp"),
        ("--seed", "3"),
        ("--output", "elsewhere"),
    ],
)
def test_cli_resume_rejects_fixed_options(tmp_path, capsys, option, value):
    output_dir = tmp_path / "cli-fit"
    output_dir.mkdir()
    (output_dir / "command.json").write_text("{}")
    status = main(["fit", "--resume", str(output_dir), option, value, "--no-progress"])
    assert status == 2
    message = capsys.readouterr().err
    assert f"{option} cannot be combined with --resume" in message
    assert "only --rounds may change" in message


def test_cli_stores_absolute_model_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SSNL_CACHE_DIR", str(tmp_path / "jax-cache"))
    model_file = tmp_path / "my_model.py"
    model_file.write_text(
        "import distrax\n"
        "import jax.numpy as jnp\n"
        "import ssnl\n"
        "def make_task():\n"
        "    prior = distrax.MultivariateNormalDiag(jnp.zeros(2), jnp.ones(2))\n"
        "    return ssnl.Task('noisy', prior, lambda key, theta: theta, jnp.zeros(2))\n"
    )
    monkeypatch.chdir(tmp_path)
    output_dir = tmp_path / "fit"
    arguments = ["fit", "--model", "my_model.py:make_task", "--rounds", "1"]
    arguments += ["--simulations-per-round", "100", "--num-samples", "200", "--chains", "2"]
    arguments += ["--output", str(output_dir), "--no-progress"]
    assert main(arguments) == 0
    stored = json.loads((output_dir / "command.json").read_text())
    assert stored["model"] == f"{model_file.resolve()}:make_task"

    monkeypatch.chdir(output_dir)
    assert main(["fit", "--resume", str(output_dir), "--rounds", "2", "--no-progress"]) == 0


def test_command_line_refuses_used_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSNL_CACHE_DIR", str(tmp_path / "jax-cache"))
    output_dir = tmp_path / "used"
    output_dir.mkdir()
    (output_dir / "settings.json").write_text("{}")
    status = main(["fit", "--model", "gaussian_linear", "--output", str(output_dir)])
    assert status != 0
    assert "already contains a fit" in capsys.readouterr().err
