"""ArviZ conversion and convergence summaries that work with ArviZ 0.x and 1.x.

Python 3.11 installs ArviZ 0.23, whose containers are `InferenceData`; Python 3.12 and newer
install ArviZ 1.x, whose containers are xarray `DataTree`s. Both write netCDF with `to_netcdf`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings

import numpy as np
import pandas as pd

__all__ = ["to_arviz", "summarize", "rhat", "ess", "hdi", "load_posterior_samples"]

_ARVIZ_MAJOR = int(importlib.metadata.version("arviz").split(".")[0])


def _arviz():
    # Imported on first use, so that the command line can filter ArviZ 0.23's daily
    # FutureWarning about its refactor before the import prints it.
    return importlib.import_module("arviz")


# Probability mass of the highest-density interval in summaries, ArviZ's long-time default.
HDI_PROB = 0.94


def load_posterior_samples(path) -> np.ndarray:
    """Read the draws of `theta` from a `posterior.nc` written by `FitResult.save`.

    Both ArviZ versions store the posterior as the netCDF group `posterior`, so the file is
    read with xarray directly.

    Returns:
        The draws with chains pooled, shape `(num_chains * num_draws, theta_dim)`, float32.
    """
    import xarray

    with xarray.open_dataset(path, group="posterior", engine="h5netcdf") as posterior:
        theta = np.asarray(posterior["theta"].values, dtype=np.float32)
    return theta.reshape(-1, theta.shape[-1])


def to_arviz(theta, diverging, acceptance_rate, observation, *, step_size=None):
    """Build ArviZ data with groups `posterior`, `sample_stats` and `observed_data`.

    Args:
        theta: Draws, shape `(num_chains, num_draws, theta_dim)`.
        diverging: Shape `(num_chains, num_draws)`.
        acceptance_rate: Shape `(num_chains, num_draws)`.
        observation: Observed data, shape `(data_dim,)` or `(num_trials, data_dim)`.
        step_size: Optional adapted step size per chain, shape `(num_chains,)`.

    Returns:
        `arviz.InferenceData` with ArviZ 0.x, an xarray `DataTree` with ArviZ 1.x. The
        variable `theta` has dims `(chain, draw, theta_dim)` and `y` has dims `(y_dim,)`, or
        `(trial, y_dim)` for repeated trials.
    """
    theta = np.asarray(theta)
    num_chains, num_draws, theta_dim = theta.shape
    sample_stats = {
        "diverging": np.asarray(diverging, dtype=bool),
        "acceptance_rate": np.asarray(acceptance_rate),
    }
    if step_size is not None:
        sample_stats["step_size"] = np.broadcast_to(
            np.asarray(step_size)[:, None], (num_chains, num_draws)
        ).copy()
    groups = {
        "posterior": {"theta": theta},
        "sample_stats": sample_stats,
        "observed_data": {"y": np.asarray(observation)},
    }
    observation = np.asarray(observation)
    coords = {"theta_dim": np.arange(theta_dim), "y_dim": np.arange(observation.shape[-1])}
    dims = {"theta": ["theta_dim"], "y": ["y_dim"]}
    if observation.ndim == 2:
        coords["trial"] = np.arange(observation.shape[0])
        dims["y"] = ["trial", "y_dim"]

    with warnings.catch_warnings():
        # ArviZ warns of swapped axes when there are more chains than draws. The axes here are
        # (chain, draw) by construction, and many short chains are legitimate.
        warnings.filterwarnings("ignore", message="More chains", category=UserWarning)
        warnings.filterwarnings("ignore", message="Found chain dimension", category=UserWarning)
        if _ARVIZ_MAJOR >= 1:
            return _arviz().from_dict(groups, coords=coords, dims=dims)
        return _arviz().from_dict(**groups, coords=coords, dims=dims)


def rhat(draws: np.ndarray) -> float:
    """Rank-normalised split R-hat of draws with shape `(num_chains, num_draws)`."""
    return float(_arviz().rhat(np.asarray(draws, dtype=np.float64)))


def ess(draws: np.ndarray, method: str = "bulk") -> float:
    """Effective sample size (`"bulk"` or `"tail"`) of draws `(num_chains, num_draws)`."""
    draws = np.asarray(draws, dtype=np.float64)
    if method == "tail" and _ARVIZ_MAJOR >= 1:
        # ArviZ 1.x requires the tail quantile as an argument; 0.x fixed it at 5% and 95%.
        return float(_arviz().ess(draws, method="tail", prob=0.05))
    return float(_arviz().ess(draws, method=method))


def hdi(values: np.ndarray, prob: float = HDI_PROB) -> tuple[float, float]:
    """Shortest interval holding a share `prob` of the 1-D sample `values`."""
    values = np.sort(np.ravel(values))
    num_inside = int(np.floor(prob * values.size))
    if num_inside < 1:
        return float(values[0]), float(values[-1])
    widths = values[num_inside:] - values[: values.size - num_inside]
    start = int(np.argmin(widths))
    return float(values[start]), float(values[start + num_inside])


def summarize(theta: np.ndarray) -> pd.DataFrame:
    """Summarise draws `(num_chains, num_draws, theta_dim)` per parameter.

    Returns:
        One row per parameter (`theta[0]`, ...) with columns mean, sd, hdi_3% and hdi_97% (the
        94% highest-density interval), ess_bulk, ess_tail and r_hat.
    """
    theta = np.asarray(theta, dtype=np.float64)
    lower_name = f"hdi_{(1 - HDI_PROB) / 2:.0%}"
    upper_name = f"hdi_{1 - (1 - HDI_PROB) / 2:.0%}"
    rows = []
    for index in range(theta.shape[-1]):
        draws = theta[..., index]
        lower, upper = hdi(draws)
        rows.append(
            {
                "mean": draws.mean(),
                "sd": draws.std(ddof=1),
                lower_name: lower,
                upper_name: upper,
                "ess_bulk": ess(draws, "bulk"),
                "ess_tail": ess(draws, "tail"),
                "r_hat": rhat(draws),
            }
        )
    return pd.DataFrame(rows, index=[f"theta[{i}]" for i in range(theta.shape[-1])])
