"""Masked autoencoder for distribution estimation (MADE), used as an autoregressive conditioner."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from surjectors_core._validation import (
    check_context_batch,
    context_or_none,
    validate_hidden_sizes,
    validate_positive_integer,
)

__all__ = ["MADE"]


def _validate_order(order, dim: int) -> np.ndarray:
    """Return `order` as an integer array after checking that it is a permutation of range(dim)."""
    array = np.asarray(order)
    if array.ndim != 1 or array.dtype.kind not in "iu" or array.shape[0] != dim:
        raise ValueError(
            f"order must be a permutation of range({dim}) with one entry per input dimension, "
            f"got {order!r}."
        )
    if not np.array_equal(np.sort(array), np.arange(dim)):
        raise ValueError(f"order must be a permutation of range({dim}), got {array.tolist()}.")
    return array.astype(np.int64)


def _hidden_degrees(size: int, dim: int, has_context: bool) -> np.ndarray:
    """Return the degree of each hidden unit, spread evenly over the allowed range.

    A unit of degree m reads the data inputs whose 0-based position in the order is below m.
    Degree 0 units read only the context and carry it to the first output in the order.
    Without a context they would be constant, so degrees then start at 1, except for dim == 1,
    where no unit can read any data input. No unit gets degree dim, because no output may
    depend on the last input in the order.
    """
    lowest = 0 if has_context else min(1, dim - 1)
    span = dim - lowest
    return lowest + (np.arange(size) * span) // size


def _made_masks(
    order: np.ndarray, context_dim: int, hidden_sizes: tuple, num_params: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Build the connectivity masks of a MADE.

    Args:
        order: Autoregressive order, a permutation of range(dim). Output `order[i]` may depend
            only on inputs `order[:i]`.
        context_dim: Size of the context, 0 for none. Context inputs have degree 0.
        hidden_sizes: Widths of the hidden layers.
        num_params: Number of parameters per data dimension.

    Returns:
        A list with one boolean mask of shape `(fan_in, fan_out)` per hidden layer, and the
        output mask of shape `(fan_in, dim * num_params)`. When there are hidden layers the
        output layer's input is the last hidden layer followed by the context, and the context
        rows of its mask are all True.
    """
    dim = order.shape[0]
    has_context = context_dim > 0
    rank = np.empty(dim, dtype=np.int64)
    rank[order] = np.arange(dim)

    # Data input d has degree rank[d] + 1, context inputs degree 0. A unit of degree m may
    # read inputs of degree <= m, and an output of degree m may read units of degree < m.
    input_degrees = np.concatenate([rank + 1, np.zeros(context_dim, dtype=np.int64)])
    output_degrees = np.repeat(rank + 1, num_params)

    hidden_masks = []
    previous_degrees = input_degrees
    for size in hidden_sizes:
        degrees = _hidden_degrees(size, dim, has_context)
        hidden_masks.append(previous_degrees[:, None] <= degrees[None, :])
        previous_degrees = degrees

    output_mask = previous_degrees[:, None] < output_degrees[None, :]
    if hidden_sizes and has_context:
        # A direct context path gives every output an affine dependence on the context, even
        # when few hidden units have degree 0.
        context_rows = np.ones((context_dim, output_degrees.shape[0]), dtype=bool)
        output_mask = np.concatenate([output_mask, context_rows], axis=0)
    return hidden_masks, output_mask


class _MaskedLinear(hk.Module):
    """Dense layer whose weight matrix is multiplied elementwise by a fixed 0/1 mask."""

    def __init__(self, w_init: hk.initializers.Initializer | None = None, name: str | None = None):
        super().__init__(name=name)
        self._w_init = w_init

    def __call__(self, inputs: jax.Array, mask: np.ndarray) -> jax.Array:
        fan_in, fan_out = mask.shape
        w_init = self._w_init
        if w_init is None:
            w_init = hk.initializers.TruncatedNormal(stddev=1.0 / np.sqrt(fan_in))
        w = hk.get_parameter("w", (fan_in, fan_out), inputs.dtype, init=w_init)
        b = hk.get_parameter("b", (fan_out,), inputs.dtype, init=jnp.zeros)
        return inputs @ (w * jnp.asarray(mask, dtype=w.dtype)) + b


class MADE(hk.Module):
    """Masked MLP that maps data and an optional context to autoregressive parameters.

    Output parameters for data dimension `order[i]` depend only on the data dimensions
    `order[:i]` and on the whole context. The context reaches every output, including the
    first one in the order, through hidden units that read only the context and through a
    direct context-to-output connection.

    The output layer starts with zero weights and biases, so a freshly initialised MADE returns
    zeros for every input. Layers built on it use this to start at the identity.
    """

    def __init__(
        self,
        num_params: int,
        hidden_sizes: Sequence[int] = (50, 50),
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        order: Sequence[int] | None = None,
        name: str | None = None,
    ):
        """Create the conditioner.

        Args:
            num_params: Number of parameters returned per data dimension.
            hidden_sizes: Widths of the hidden layers. An empty tuple gives a single masked
                linear layer.
            activation: Nonlinearity applied after each hidden layer.
            order: Autoregressive order as a permutation of range(data_dim), or None for the
                identity order. Its length is checked against the data at every call.
            name: Haiku module name.
        """
        super().__init__(name=name)
        self._num_params = validate_positive_integer(num_params, "num_params")
        self._hidden_sizes = validate_hidden_sizes(hidden_sizes)
        self._activation = activation
        self._order = None if order is None else _validate_order(order, np.size(order))
        self._hidden_layers = [
            _MaskedLinear(name=f"hidden_{index}") for index in range(len(self._hidden_sizes))
        ]
        self._output_layer = _MaskedLinear(w_init=jnp.zeros, name="output")

    def __call__(self, y: jax.Array, x: jax.Array | None = None) -> jax.Array:
        """Compute the autoregressive parameters.

        Args:
            y: Data of shape `(..., data_dim)`, for example `(num_samples, data_dim)`.
            x: Optional context of shape `(..., context_dim)` with the same leading shape as
                `y`. None or a zero-width array means no context.

        Returns:
            Parameters of shape `(..., data_dim, num_params)`.
        """
        y = jnp.asarray(y)
        x = context_or_none(None if x is None else jnp.asarray(x))
        check_context_batch(y, x, "MADE")
        dim = y.shape[-1]
        order = np.arange(dim) if self._order is None else _validate_order(self._order, dim)
        context_dim = 0 if x is None else x.shape[-1]
        hidden_masks, output_mask = _made_masks(
            order, context_dim, self._hidden_sizes, self._num_params
        )

        inputs = y if x is None else jnp.concatenate([y, x.astype(y.dtype)], axis=-1)
        hidden = inputs
        for layer, mask in zip(self._hidden_layers, hidden_masks, strict=True):
            hidden = self._activation(layer(hidden, mask))
        if self._hidden_sizes and x is not None:
            hidden = jnp.concatenate([hidden, x.astype(y.dtype)], axis=-1)

        outputs = self._output_layer(hidden, output_mask)
        return outputs.reshape(*y.shape[:-1], dim, self._num_params)
