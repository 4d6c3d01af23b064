"""Z-scoring of parameters and data with the mean and standard deviation of the pool."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["Standardizer", "fit_standardizer"]

# A column whose standard deviation is below this (relative to its magnitude) is treated as
# constant and keeps scale 1, so that z-scoring never divides by zero.
_CONSTANT_TOLERANCE = 1e-8


class Standardizer(NamedTuple):
    """Affine map `(v - mean) / scale`, per column.

    Attributes:
        mean: Column means, shape `(dim,)`.
        scale: Column standard deviations, 1 for constant columns, shape `(dim,)`.
    """

    mean: np.ndarray
    scale: np.ndarray

    def transform(self, values):
        """Map raw values of shape `(..., dim)` to standardised values."""
        return (values - self.mean) / self.scale

    def inverse(self, values):
        """Map standardised values of shape `(..., dim)` back to raw values."""
        return values * self.scale + self.mean

    @property
    def log_scale_sum(self):
        """`sum(log(scale))`, the log-Jacobian of `inverse` per row."""
        return jnp.sum(jnp.log(self.scale))


def fit_standardizer(values: np.ndarray) -> Standardizer:
    """Compute column means and standard deviations of `values`, shape `(n, dim)`."""
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean(axis=0)
    # NOTE: data spanning many orders of magnitude (lotka_volterra's populations reach 1e4)
    # get a scale set by the outliers, which squeezes typical values together. Whether a log
    # or robust scale fits them better is not measured.
    scale = values.std(axis=0)
    is_constant = scale <= _CONSTANT_TOLERANCE * np.maximum(1.0, np.abs(mean))
    scale = np.where(is_constant, 1.0, scale)
    return Standardizer(mean.astype(np.float32), scale.astype(np.float32))
