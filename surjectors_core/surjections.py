"""Inference surjections ("funnels") that reduce the dimension of the data.

A funnel keeps the first `num_kept` coordinates y+ of y in R^data_dim and drops the rest, y-.
It maps y+ bijectively to z in R^num_kept, conditioned on y- and the context x, and models y-
with a decoder p(y- | z, x). The log density of the data then is

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

from surjectors_core._affine import affine_autoregressive_forward, affine_autoregressive_inverse
from surjectors_core._validation import (
    check_context_batch,
    context_or_none,
    validate_min_scale,
    validate_positive_integer,
)
from surjectors_core.decoders import Decoder, GaussianDecoder
from surjectors_core.made import MADE

__all__ = ["MaskedAutoregressiveFunnel"]


def _check_num_kept(num_kept: int, data_dim: int) -> None:
    if not 0 < num_kept < data_dim:
        raise ValueError(
            f"MaskedAutoregressiveFunnel needs 0 < num_kept < data_dim, got num_kept={num_kept} "
            f"and data_dim={data_dim}. A funnel must keep at least one coordinate and drop at "
            "least one."
        )


class MaskedAutoregressiveFunnel(hk.Module):
    """Funnel whose bijective part is an affine masked autoregressive transform.

    The transform maps y+ to z with `z_d = (y+_d - shift_d) / scale_d`, where a MADE computes
    shift and scale from y+_<d and the context `concat(y-, x)`. So z depends on the dropped
    coordinates, and the decoder models y- given z and x.
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
        name: str | None = None,
    ):
        """Create the funnel.

        Args:
            num_kept: Number of leading coordinates kept, the output dimension.
            decoder: Density of the dropped coordinates, any object with the `Decoder`
                methods. When None, a `GaussianDecoder` with `hidden_sizes`, `activation` and
                `min_scale` is created, which needs `data_dim`.
            data_dim: Input dimension. Required when `decoder` is None, because sampling must
                know how many coordinates to draw. When given, inputs are checked against it.
            hidden_sizes: Hidden layer widths of the MADE and of the default decoder.
            activation: Nonlinearity of the MADE and of the default decoder.
            order: Autoregressive order over the kept coordinates, or None for the identity.
            min_scale: Lower bound of the scale, in (0, 1).
            name: Haiku module name.

        Raises:
            ValueError: If `num_kept` is not a positive integer, if `data_dim` is given and
                `num_kept >= data_dim`, or if both `decoder` and `data_dim` are None.
        """
        super().__init__(name=name)
        self.num_kept = validate_positive_integer(num_kept, "num_kept")
        self.data_dim = (
            None if data_dim is None else validate_positive_integer(data_dim, "data_dim")
        )
        if self.data_dim is not None:
            _check_num_kept(self.num_kept, self.data_dim)
        self._min_scale = validate_min_scale(min_scale)

        self._conditioner = MADE(
            num_params=2,
            hidden_sizes=hidden_sizes,
            activation=activation,
            order=order,
            name="made",
        )
        if decoder is None:
            if self.data_dim is None:
                raise ValueError(
                    "MaskedAutoregressiveFunnel needs data_dim when decoder is None, because "
                    "the default GaussianDecoder must know how many coordinates it drops."
                )
            decoder = GaussianDecoder(
                self.data_dim - self.num_kept,
                hidden_sizes=hidden_sizes,
                activation=activation,
                min_scale=min_scale,
                name="decoder",
            )
        self.decoder = decoder

    @staticmethod
    def _conditioner_context(y_minus: jax.Array, x: jax.Array | None) -> jax.Array:
        if x is None:
            return y_minus
        return jnp.concatenate([y_minus, x.astype(y_minus.dtype)], axis=-1)

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
        check_context_batch(y, x, "MaskedAutoregressiveFunnel")
        data_dim = y.shape[-1]
        if self.data_dim is not None and data_dim != self.data_dim:
            raise ValueError(
                f"MaskedAutoregressiveFunnel built for data_dim={self.data_dim} got input of "
                f"shape {tuple(y.shape)}."
            )
        _check_num_kept(self.num_kept, data_dim)

        y_plus, y_minus = y[..., : self.num_kept], y[..., self.num_kept :]
        context = self._conditioner_context(y_minus, x)
        z, log_det = affine_autoregressive_inverse(
            self._conditioner, y_plus, context, self._min_scale
        )
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
        check_context_batch(z, x, "MaskedAutoregressiveFunnel")
        if z.shape[-1] != self.num_kept:
            raise ValueError(
                f"MaskedAutoregressiveFunnel with num_kept={self.num_kept} got latent values "
                f"of shape {tuple(z.shape)}."
            )

        y_minus = self.decoder.sample(z, x)
        if self.data_dim is not None and y_minus.shape[-1] != self.data_dim - self.num_kept:
            raise ValueError(
                f"The decoder returned samples of shape {tuple(y_minus.shape)}, but a funnel "
                f"from data_dim={self.data_dim} to num_kept={self.num_kept} drops "
                f"{self.data_dim - self.num_kept} coordinates."
            )
        context = self._conditioner_context(y_minus, x)
        # forward_log_det is log|det dy+/dz| = -log|det dz/dy+|.
        y_plus, forward_log_det = affine_autoregressive_forward(
            self._conditioner, z, context, self._min_scale
        )
        y = jnp.concatenate([y_plus, y_minus], axis=-1)
        return y, forward_log_det - self.decoder.log_prob(y_minus, z, x)
