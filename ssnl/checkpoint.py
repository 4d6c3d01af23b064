"""Per-round files of a fit, written as soon as they exist, and reading them back to resume.

A fit writes into its output folder:

- `settings.json`: the fit's settings, checked when a fit resumes.
- `simulations_roundNN.npz`: arrays `theta` and `y` of round NN, right after simulating, and
  `num_invalid`, the number of simulations dropped for NaN or Inf.
- `estimator_roundNN.npz`: the trained Haiku parameters, one array per `module|name` key,
  and the z-scoring statistics under `standardizer|theta_mean` and similar keys.
- `posterior_roundNN.npz`: the round's MCMC draws `theta (num_chains, num_draws, theta_dim)`,
  `diverging`, `acceptance_rate` and `step_size`; the next round's proposal.
- `round_NN.json`: the round's record, written last, so its presence marks a complete round.

Only npz and JSON are used, so loading a checkpoint never runs code from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ssnl.mcmc import MCMCResult
from ssnl.simulate import Simulations
from ssnl.standardize import Standardizer

__all__ = [
    "Checkpoint",
    "write_settings",
    "check_settings",
    "save_simulations",
    "load_simulations",
    "save_round",
    "load_checkpoint",
]

_SEPARATOR = "|"
_STANDARDIZER_PREFIX = "standardizer"


class Checkpoint(NamedTuple):
    """The state of a fit after its last complete round.

    Attributes:
        records: The round records as dictionaries, oldest first.
        theta: Pooled parameters, shape `(total_simulations, theta_dim)`.
        y: Pooled data, shape `(total_simulations, data_dim)`.
        params: Haiku parameters of the last complete round.
        theta_standardizer: Z-scoring of parameters of the last complete round.
        y_standardizer: Z-scoring of data of the last complete round.
        posterior: MCMC draws of the last complete round.
    """

    records: list[dict[str, Any]]
    theta: np.ndarray
    y: np.ndarray
    params: dict
    theta_standardizer: Standardizer
    y_standardizer: Standardizer
    posterior: MCMCResult


def _round_path(output_dir: Path, stem: str, round_number: int, suffix: str) -> Path:
    return output_dir / f"{stem}_round{round_number:02d}.{suffix}"


def write_settings(output_dir: Path, settings: dict[str, Any]) -> None:
    """Write the settings of a new fit to `settings.json`."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True))


def check_settings(output_dir: Path, settings: dict[str, Any], *, ignore=("rounds",)) -> None:
    """Raise if the settings stored in `output_dir` differ from `settings`.

    Keys in `ignore` may differ; by default the number of rounds, so a finished fit can be
    extended.

    Raises:
        FileNotFoundError: If `output_dir` contains no `settings.json`.
        ValueError: Naming each setting whose stored and requested values differ.
    """
    path = output_dir / "settings.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"Cannot resume from {output_dir}: settings.json is missing, so it is not the "
            "output folder of an ssnl fit. Start a new fit instead."
        )
    stored = json.loads(path.read_text())
    requested = json.loads(json.dumps(settings))
    differences = [
        f"{key}: stored {stored.get(key)!r}, requested {requested.get(key)!r}"
        for key in sorted(set(stored) | set(requested))
        if key not in ignore and stored.get(key) != requested.get(key)
    ]
    if differences:
        raise ValueError(
            f"Cannot resume from {output_dir} with different settings ("
            + "; ".join(differences)
            + "). Use the stored settings or a new output folder."
        )


def save_simulations(output_dir: Path, round_number: int, simulations: Simulations) -> None:
    """Write one round's valid simulations and the number of invalid ones."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = _round_path(output_dir, "simulations", round_number, "npz")
    np.savez(
        path,
        theta=np.asarray(simulations.theta),
        y=np.asarray(simulations.y),
        num_invalid=np.asarray(simulations.num_invalid),
    )


def load_simulations(output_dir: Path, round_number: int) -> Simulations | None:
    """Return one round's simulations, or None if that round was not simulated."""
    path = _round_path(output_dir, "simulations", round_number, "npz")
    if not path.is_file():
        return None
    with np.load(path) as arrays:
        return Simulations(arrays["theta"], arrays["y"], int(arrays["num_invalid"]))


def _flatten_params(params) -> dict[str, np.ndarray]:
    flat = {}
    for module_name, module_params in params.items():
        for param_name, value in module_params.items():
            flat[f"{module_name}{_SEPARATOR}{param_name}"] = np.asarray(value)
    return flat


def _unflatten_params(flat: dict[str, np.ndarray]) -> dict:
    params: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        module_name, param_name = key.rsplit(_SEPARATOR, 1)
        params.setdefault(module_name, {})[param_name] = value
    return params


def save_round(
    output_dir: Path,
    round_number: int,
    *,
    record: dict[str, Any],
    params,
    theta_standardizer: Standardizer,
    y_standardizer: Standardizer,
    posterior: MCMCResult,
) -> None:
    """Write one round's estimator and draws, then its record, which marks it complete."""
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays = _flatten_params(params)
    for name, standardizer in (("theta", theta_standardizer), ("y", y_standardizer)):
        arrays[f"{_STANDARDIZER_PREFIX}{_SEPARATOR}{name}_mean"] = standardizer.mean
        arrays[f"{_STANDARDIZER_PREFIX}{_SEPARATOR}{name}_scale"] = standardizer.scale
    np.savez(_round_path(output_dir, "estimator", round_number, "npz"), **arrays)
    np.savez(_round_path(output_dir, "posterior", round_number, "npz"), **posterior._asdict())
    record_path = output_dir / f"round_{round_number:02d}.json"
    record_path.write_text(json.dumps(record, indent=2))


def _load_estimator(path: Path):
    with np.load(path) as arrays:
        flat = {key: arrays[key] for key in arrays.files}
    statistics = {
        key.split(_SEPARATOR, 1)[1]: flat.pop(key)
        for key in list(flat)
        if key.startswith(_STANDARDIZER_PREFIX + _SEPARATOR)
    }
    theta_standardizer = Standardizer(statistics["theta_mean"], statistics["theta_scale"])
    y_standardizer = Standardizer(statistics["y_mean"], statistics["y_scale"])
    return _unflatten_params(flat), theta_standardizer, y_standardizer


def load_checkpoint(output_dir: Path) -> Checkpoint | None:
    """Read the state after the last complete round in `output_dir`, or None if there is none.

    Rounds count as complete in order: a round whose record exists after a missing one is
    ignored.
    """
    records = []
    round_number = 1
    while (output_dir / f"round_{round_number:02d}.json").is_file():
        records.append(json.loads((output_dir / f"round_{round_number:02d}.json").read_text()))
        round_number += 1
    if not records:
        return None

    last = len(records)
    thetas, ys = [], []
    for number in range(1, last + 1):
        simulations = load_simulations(output_dir, number)
        if simulations is None:
            raise FileNotFoundError(
                f"{output_dir} records round {number} as complete, but "
                f"{_round_path(output_dir, 'simulations', number, 'npz').name} is missing."
            )
        thetas.append(simulations.theta)
        ys.append(simulations.y)

    params, theta_standardizer, y_standardizer = _load_estimator(
        _round_path(output_dir, "estimator", last, "npz")
    )
    with np.load(_round_path(output_dir, "posterior", last, "npz")) as arrays:
        posterior = MCMCResult(**{field: arrays[field] for field in MCMCResult._fields})
    return Checkpoint(
        records=records,
        theta=np.concatenate(thetas),
        y=np.concatenate(ys),
        params=params,
        theta_standardizer=theta_standardizer,
        y_standardizer=y_standardizer,
        posterior=posterior,
    )
