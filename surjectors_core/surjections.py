"""Inference surjections ("funnels") that reduce the dimension of the data.

A funnel keeps the first `num_kept` coordinates y+ of y in R^data_dim and drops the rest, y-.
It maps y+ bijectively to z in R^num_kept, possibly conditioned on y- and the context x, and
models y- with a decoder p(y- | z, x). The log density of the data then is

    log p(y | x) = log p_base(z) + log|det dz/dy+| + log p_dec(y- | z, x).

`inverse_and_log_det(y, x)` returns `(z, log|det dz/dy+| + log p_dec(y- | z, x))`.
`forward_and_log_det(z, x)` draws y- from the decoder, inverts the bijective part for y+ and
returns `(y, -(the same contribution at that y))`. With this sign, a chain's log density of a
sample is `log p_base(z)` minus the sum of the forward values, the same rule as for bijections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import haiku as hk
import jax
import jax.numpy as jnp

from surjectors_core._autoregressive import autoregressive_forward, autoregressive_inverse
from surjectors_core._lu import LUMatrix
from surjectors_core._networks import ConditionerMLP
from surjectors_core._validation import (
    check_context_batch,
    context_or_none,
    validate_min_scale,
    validate_positive_integer,
)
from surjectors_core.bijections import resolve_transform
from surjectors_core.decoders import Decoder, GaussianDecoder
from surjectors_core.made import MADE
from surjectors_core.transforms import ElementwiseTransform

__all__ = ["LULinearFunnel", "MaskedAutoregressiveFunnel", "MaskedCouplingFunnel", "Slice"]


def _concat_context(y_minus: jax.Array, x: jax.Array | None) -> jax.Array:
    if x is None:
        return y_minus
    return jnp.concatenate([y_minus, x.astype(y_minus.dtype)], axis=-1)


class _Funnel(hk.Module):
    """Shared argument checks, decoder handling and the split of y into (y+, y-).

    Subclasses implement `_kept_inverse(y_plus, y_minus, x) -> (z, log|det dz/dy+|)` and
    `_kept_forward(z, y_minus, x) -> (y_plus, log|det dy+/dz|)`.
    """

    def __init__(
        self,
        num_kept: int,
        decoder: Decoder | None,
        data_dim: int | None,
        hidden_sizes: Sequence[int],
        activation: Callable[[jax.Array], jax.Array],
        min_scale: float,
        name: str | None,
    ):
        super().__init__(name=name)
        self.num_kept = validate_positive_integer(num_kept, "num_kept")
        self.data_dim = (
            None if data_dim is None else validate_positive_integer(data_dim, "data_dim")
        )
        if self.data_dim is not None:
            self._check_num_kept(self.data_dim)
        self._min_scale = validate_min_scale(min_scale)

        if decoder is None:
            if self.data_dim is None:
                raise ValueError(
                    f"{type(self).__name__} needs data_dim when decoder is None, because "
                    "the default GaussianDecoder must know how many coordinates it drops."
                )
            decoder = GaussianDecoder(
                self.data_dim - self.num_kept,
                hidden_sizes=hidden_sizes,
                activation=activation,
                min_scale=min_scale,
                name="decoder",
            )
        elif self.data_dim is not None and hasattr(decoder, "output_dim"):
            expected = self.data_dim - self.num_kept
            if decoder.output_dim != expected:
                raise ValueError(
                    f"{type(self).__name__} from data_dim={self.data_dim} to "
                    f"num_kept={self.num_kept} drops {expected} coordinates, so the decoder "
                    f"must have output_dim={expected}, got output_dim={decoder.output_dim}."
                )
        self.decoder = decoder

    def _check_num_kept(self, data_dim: int) -> None:
        if not 0 < self.num_kept < data_dim:
            raise ValueError(
                f"{type(self).__name__} needs 0 < num_kept < data_dim, got "
                f"num_kept={self.num_kept} and data_dim={data_dim}. A funnel must keep at least "
                "one coordinate and drop at least one."
            )

    def _kept_inverse(self, y_plus, y_minus, x) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def _kept_forward(self, z, y_minus, x) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def inverse_and_log_det(
        self, y: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Map data to the kept latent values and the funnel's log-likelihood contribution.

        Args:
            y: Data of shape `(..., data_dim)`.
            x: Optional context of shape `(..., context_dim)` with the leading shape of `y`.

        Returns:
            `z` of shape `(..., num_kept)` and `log|det dz/dy+| + log p_dec(y- | z, x)` of
            shape `(...)`.
        """
        y = jnp.asarray(y)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(y, x, type(self).__name__)
        data_dim = y.shape[-1]
        if self.data_dim is not None and data_dim != self.data_dim:
            raise ValueError(
                f"{type(self).__name__} built for data_dim={self.data_dim} got input of "
                f"shape {tuple(y.shape)}."
            )
        self._check_num_kept(data_dim)

        y_plus, y_minus = y[..., : self.num_kept], y[..., self.num_kept :]
        z, log_det = self._kept_inverse(y_plus, y_minus, x)
        return z, log_det + self.decoder.log_prob(y_minus, z, x)

    def forward_and_log_det(
        self, z: jax.Array, x: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Draw data for the latent values `z` and return minus the log-likelihood contribution.

        Uses `hk.next_rng_key()` for the decoder draw.

        Args:
            z: Latent values of shape `(..., num_kept)`.
            x: Optional context of shape `(..., context_dim)` with the leading shape of `z`.

        Returns:
            `y` of shape `(..., data_dim)` and `-(log|det dz/dy+| + log p_dec(y- | z, x))` of
            shape `(...)`, evaluated at the returned `y`.
        """
        z = jnp.asarray(z)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(z, x, type(self).__name__)
        if z.shape[-1] != self.num_kept:
            raise ValueError(
                f"{type(self).__name__} with num_kept={self.num_kept} got latent values "
                f"of shape {tuple(z.shape)}."
            )

        y_minus = self.decoder.sample(z, x)
        if self.data_dim is not None and y_minus.shape[-1] != self.data_dim - self.num_kept:
            raise ValueError(
                f"The decoder returned samples of shape {tuple(y_minus.shape)}, but a funnel "
                f"from data_dim={self.data_dim} to num_kept={self.num_kept} drops "
                f"{self.data_dim - self.num_kept} coordinates."
            )
        y_plus, forward_log_det = self._kept_forward(z, y_minus, x)
        y = jnp.concatenate([y_plus, y_minus], axis=-1)
        return y, forward_log_det - self.decoder.log_prob(y_minus, z, x)


_COMMON_ARGS = """num_kept: Number of leading coordinates kept, the output dimension.
            decoder: Density of the dropped coordinates, any object with the `Decoder`
                methods. When None, a `GaussianDecoder` with `hidden_sizes`, `activation` and
                `min_scale` is created, which needs `data_dim`. A decoder with an `output_dim`
                attribute is checked against `data_dim - num_kept` when `data_dim` is given.
            data_dim: Input dimension. Required when `decoder` is None, because sampling must
                know how many coordinates to draw. When given, inputs are checked against it.
            hidden_sizes: Hidden layer widths of the conditioner and of the default decoder.
            activation: Nonlinearity of the conditioner and of the default decoder.
            min_scale: Lower bound of every scale, in (0, 1)."""


class MaskedAutoregressiveFunnel(_Funnel):
    """Funnel whose bijective part is a masked autoregressive affine or spline transform.

    Inverse (data to latent): `z_d = f(y+_d; theta_d)`, where a MADE computes `theta_d` from
    `y+_<d` and the context `concat(y-, x)`. Forward: draws `y- ~ p_dec(. | z, x)` and solves
    the autoregressive system for y+ in `num_kept` passes. Likelihood contribution of the
    inverse: `sum_d log|f'(y+_d; theta_d)| + log p_dec(y- | z, x)`.
    """

    def __init__(
        self,
        num_kept: int,
        decoder: Decoder | None = None,
        *,
        data_dim: int | None = None,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        order: Sequence[int] | None = None,
        min_scale: float = 1e-3,
        transform: ElementwiseTransform | None = None,
        name: str | None = None,
    ):
        """Create the funnel.

        Args:
            {common}
            order: Autoregressive order over the kept coordinates, or None for the identity.
            transform: Elementwise transform, for example `RationalQuadraticSpline()`. None
                means `AffineTransform(min_scale)`.
            name: Haiku module name.

        Raises:
            ValueError: If `num_kept` is not a positive integer, if `data_dim` is given and
                `num_kept >= data_dim`, if both `decoder` and `data_dim` are None, or if the
                decoder's `output_dim` is not `data_dim - num_kept`.
        """
        super().__init__(num_kept, decoder, data_dim, hidden_sizes, activation, min_scale, name)
        self.transform = resolve_transform(transform, min_scale)
        self._conditioner = MADE(
            num_params=self.transform.num_params,
            hidden_sizes=hidden_sizes,
            activation=activation,
            order=order,
            name="made",
        )

    def _kept_inverse(self, y_plus, y_minus, x):
        context = _concat_context(y_minus, x)
        return autoregressive_inverse(self._conditioner, self.transform, y_plus, context)

    def _kept_forward(self, z, y_minus, x):
        context = _concat_context(y_minus, x)
        return autoregressive_forward(self._conditioner, self.transform, z, context)


class MaskedCouplingFunnel(_Funnel):
    """Funnel whose bijective part is an elementwise transform conditioned on (y-, x).

    Inverse (data to latent): `z = f(y+; theta)` with `theta = MLP(y-, x)`. Forward: draws
    `y- ~ p_dec(. | z, x)` and sets `y+ = f^{-1}(z; MLP(y-, x))` in one pass. Likelihood
    contribution of the inverse: `sum log|f'(y+; theta)| + log p_dec(y- | z, x)`.
    """

    def __init__(
        self,
        num_kept: int,
        decoder: Decoder | None = None,
        *,
        data_dim: int | None = None,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        min_scale: float = 1e-3,
        transform: ElementwiseTransform | None = None,
        name: str | None = None,
    ):
        """Create the funnel.

        Args:
            {common}
            transform: Elementwise transform. None means `AffineTransform(min_scale)`.
            name: Haiku module name.

        Raises:
            ValueError: As for MaskedAutoregressiveFunnel.
        """
        super().__init__(num_kept, decoder, data_dim, hidden_sizes, activation, min_scale, name)
        self.transform = resolve_transform(transform, min_scale)
        self._conditioner = ConditionerMLP(
            (self.num_kept, self.transform.num_params),
            hidden_sizes,
            activation,
            name="conditioner",
        )

    def _kept_inverse(self, y_plus, y_minus, x):
        z, log_det = self.transform.inverse_and_log_det(y_plus, self._conditioner(y_minus, x))
        return z, jnp.sum(log_det, axis=-1)

    def _kept_forward(self, z, y_minus, x):
        y_plus, log_det = self.transform.forward_and_log_det(z, self._conditioner(y_minus, x))
        return y_plus, jnp.sum(log_det, axis=-1)


class LULinearFunnel(_Funnel):
    """Linear funnel `z = L U y+ + W y- + b(x)`.

    `L` is unit lower triangular, `U` upper triangular with the diagonal
    `min_scale + softplus(raw)`, `W` a `(num_kept, data_dim - num_kept)` matrix and `b(x)` a
    learned bias plus an MLP of the context (only the bias without context). Inverse (data to
    latent): the formula above. Forward: draws `y- ~ p_dec(. | z, x)` and solves
    `L U y+ = z - W y- - b(x)` by two triangular solves. Likelihood contribution of the
    inverse: `sum log diag U + log p_dec(y- | z, x)`.
    """

    def __init__(
        self,
        num_kept: int,
        decoder: Decoder | None = None,
        *,
        data_dim: int | None = None,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        min_scale: float = 1e-3,
        name: str | None = None,
    ):
        """Create the funnel.

        Args:
            {common}
            name: Haiku module name.

        Raises:
            ValueError: As for MaskedAutoregressiveFunnel.
        """
        super().__init__(num_kept, decoder, data_dim, hidden_sizes, activation, min_scale, name)
        self._matrix = LUMatrix(self.num_kept, self._min_scale, name="matrix")
        self._context_shift = ConditionerMLP(
            (self.num_kept,), hidden_sizes, activation, name="context_shift"
        )

    def _shift(self, y_minus: jax.Array, x: jax.Array | None) -> jax.Array:
        """Return `W y- + b(x)` of shape `(..., num_kept)`."""
        dtype = y_minus.dtype
        weights = hk.get_parameter(
            "dropped_weights", (self.num_kept, y_minus.shape[-1]), dtype, init=jnp.zeros
        )
        bias = hk.get_parameter("bias", (self.num_kept,), dtype, init=jnp.zeros)
        shift = y_minus @ weights.T + bias
        if x is not None:
            shift = shift + self._context_shift(x)
        return shift

    def _kept_inverse(self, y_plus, y_minus, x):
        z, log_det = self._matrix.matmul(y_plus)
        z = z + self._shift(y_minus, x)
        return z, jnp.full(z.shape[:-1], log_det, z.dtype)

    def _kept_forward(self, z, y_minus, x):
        y_plus, log_det = self._matrix.solve(z - self._shift(y_minus, x))
        return y_plus, jnp.full(z.shape[:-1], -log_det, z.dtype)


class Slice(_Funnel):
    """Funnel that keeps y+ unchanged and models y- with the decoder.

    Inverse (data to latent): `z = y+`. Forward: draws `y- ~ p_dec(. | z, x)` and sets
    `y = concat(z, y-)`. Likelihood contribution of the inverse: `log p_dec(y- | z, x)`.
    """

    def __init__(
        self,
        num_kept: int,
        decoder: Decoder | None = None,
        *,
        data_dim: int | None = None,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        min_scale: float = 1e-3,
        name: str | None = None,
    ):
        """Create the funnel.

        Args:
            {common}
            name: Haiku module name.

        Raises:
            ValueError: As for MaskedAutoregressiveFunnel.
        """
        super().__init__(num_kept, decoder, data_dim, hidden_sizes, activation, min_scale, name)

    def _kept_inverse(self, y_plus, y_minus, x):
        return y_plus, jnp.zeros(y_plus.shape[:-1], y_plus.dtype)

    def _kept_forward(self, z, y_minus, x):
        return z, jnp.zeros(z.shape[:-1], z.dtype)


for _funnel in (MaskedAutoregressiveFunnel, MaskedCouplingFunnel, LULinearFunnel, Slice):
    _funnel.__init__.__doc__ = _funnel.__init__.__doc__.replace("{common}", _COMMON_ARGS)
del _funnel
