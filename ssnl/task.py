"""The inference problem a user hands to ssnl: prior, simulator and observation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import distrax
import jax
import numpy as np
from tensorflow_probability.substrates import jax as tfp

__all__ = ["Task"]

Simulator = Callable[[jax.Array, jax.Array], Any]
ReferenceSampler = Callable[[jax.Array, int], Any]


@dataclasses.dataclass(frozen=True)
class Task:
    """A simulation-based inference problem.

    Attributes:
        name: Short identifier, used in file names and reports.
        prior: A distrax distribution over parameter vectors with event shape `(theta_dim,)`;
            a TensorFlow Probability (JAX substrate) distribution is wrapped into one.
        simulator: `simulator(key, theta)` maps parameters of shape `(n, theta_dim)` to data of
            shape `(n, data_dim)`. It must be a function of the key and parameters only.
        observation: The observed data, shape `(data_dim,)`, or `(num_trials, data_dim)` for
            independent trials from the same parameters, whose log-likelihoods add up; stored
            as float32.
        reference_sampler: Optional `reference_sampler(key, num_samples)` returning exact
            posterior samples of shape `(num_samples, theta_dim)` for this observation, used to
            score a fit.
    """

    name: str
    prior: distrax.Distribution
    simulator: Simulator
    observation: np.ndarray
    reference_sampler: ReferenceSampler | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Task name must be a non-empty string, got {self.name!r}.")
        if isinstance(self.prior, tfp.distributions.Distribution) and not isinstance(
            self.prior, distrax.Distribution
        ):
            object.__setattr__(self, "prior", distrax.as_distribution(self.prior))
        if not isinstance(self.prior, distrax.Distribution):
            raise TypeError(
                f"Task {self.name!r}: prior must be a distrax.Distribution, got "
                f"{type(self.prior).__name__}. Wrap independent scalar priors with "
                "distrax.Independent(..., reinterpreted_batch_ndims=1)."
            )
        if len(self.prior.event_shape) != 1 or self.prior.batch_shape != ():
            raise ValueError(
                f"Task {self.name!r}: prior must have event shape (theta_dim,) and no batch "
                f"shape, got event shape {tuple(self.prior.event_shape)} and batch shape "
                f"{tuple(self.prior.batch_shape)}. Use distrax.Independent to turn a batch of "
                "scalar distributions into one vector distribution."
            )
        if not callable(self.simulator):
            raise TypeError(
                f"Task {self.name!r}: simulator must be callable as simulator(key, theta), "
                f"got {type(self.simulator).__name__}."
            )

        observation = np.asarray(self.observation, dtype=np.float32)
        if observation.ndim not in (1, 2) or observation.size == 0:
            raise ValueError(
                f"Task {self.name!r}: observation must have shape (data_dim,) or "
                f"(num_trials, data_dim), got shape {observation.shape}. Flatten the data of "
                "one trial to a vector."
            )
        if not np.all(np.isfinite(observation)):
            bad = np.argwhere(~np.isfinite(observation)).squeeze(-1).tolist()
            raise ValueError(
                f"Task {self.name!r}: observation contains NaN or Inf at indices {bad}; "
                "the likelihood is undefined there. Remove or impute those values."
            )
        object.__setattr__(self, "observation", observation)

    @property
    def theta_dim(self) -> int:
        """Number of parameters."""
        return int(self.prior.event_shape[0])

    @property
    def data_dim(self) -> int:
        """Number of data dimensions of one simulation."""
        return int(self.observation.shape[-1])

    @property
    def num_trials(self) -> int:
        """Number of independent trials in the observation (1 for a vector)."""
        return 1 if self.observation.ndim == 1 else int(self.observation.shape[0])

    @property
    def trials(self) -> np.ndarray:
        """The observation as a matrix of trials, shape `(num_trials, data_dim)`."""
        return self.observation.reshape(self.num_trials, self.data_dim)
