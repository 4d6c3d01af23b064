"""Invertible matrix `L U` in LU form, shared by LULinear and LULinearFunnel."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from surjectors_core._affine import bounded_scale


class LUMatrix(hk.Module):
    """Matrix `M = L U` with unit-diagonal lower `L` and upper `U` with a positive diagonal.

    The diagonal of `U` is `min_scale + softplus(raw + c)` with `c` chosen so that `raw = 0`
    gives 1. All parameters start at zero, so `M` starts as the identity.
    """

    def __init__(self, dim: int, min_scale: float, name: str | None = None):
        super().__init__(name=name)
        self.dim = dim
        self._min_scale = min_scale

    def _factors(self, dtype) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Return `L`, `U` and the diagonal of `U`."""
        dim = self.dim
        lower = hk.get_parameter("lower", (dim, dim), dtype, init=jnp.zeros)
        upper = hk.get_parameter("upper", (dim, dim), dtype, init=jnp.zeros)
        raw_diagonal = hk.get_parameter("raw_diagonal", (dim,), dtype, init=jnp.zeros)
        diagonal = bounded_scale(raw_diagonal, self._min_scale)
        strictly_lower = jnp.asarray(np.tril(np.ones((dim, dim)), k=-1), dtype)
        strictly_upper = jnp.asarray(np.triu(np.ones((dim, dim)), k=1), dtype)
        lower = lower * strictly_lower + jnp.eye(dim, dtype=dtype)
        upper = upper * strictly_upper + jnp.diag(diagonal)
        return lower, upper, diagonal

    def matmul(self, values: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Return `M v` for each row `v` of `values` of shape `(..., dim)`, and log|det M|."""
        lower, upper, diagonal = self._factors(values.dtype)
        outputs = (values @ upper.T) @ lower.T
        return outputs, jnp.sum(jnp.log(diagonal))

    def solve(self, values: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Return `M^{-1} r` for each row `r` of `values` of shape `(..., dim)`, and log|det M|.

        Two triangular solves, first with `L` and then with `U`, so no inverse is formed.
        """
        lower, upper, diagonal = self._factors(values.dtype)
        columns = values.reshape(-1, self.dim).T
        columns = jax.scipy.linalg.solve_triangular(lower, columns, lower=True, unit_diagonal=True)
        columns = jax.scipy.linalg.solve_triangular(upper, columns, lower=False)
        return columns.T.reshape(values.shape), jnp.sum(jnp.log(diagonal))
