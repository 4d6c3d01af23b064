"""Dense conditioner network shared by the coupling layers and the linear funnel."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import haiku as hk
import jax
import jax.numpy as jnp

from surjectors_core._validation import validate_hidden_sizes


class ConditionerMLP(hk.Module):
    """MLP from the concatenated inputs to an array of shape `(..., *output_shape)`.

    The output layer starts with zero weights and biases, so the freshly initialised network
    returns zeros and the layers built on it start at the identity.
    """

    def __init__(
        self,
        output_shape: tuple[int, ...],
        hidden_sizes: Sequence[int],
        activation: Callable[[jax.Array], jax.Array],
        name: str | None = None,
    ):
        super().__init__(name=name)
        self._output_shape = tuple(output_shape)
        self._activation = activation
        self._hidden_layers = [
            hk.Linear(size, name=f"hidden_{index}")
            for index, size in enumerate(validate_hidden_sizes(hidden_sizes))
        ]
        output_size = 1
        for size in self._output_shape:
            output_size *= size
        self._output_layer = hk.Linear(output_size, w_init=jnp.zeros, name="output")

    def __call__(self, *inputs: jax.Array | None) -> jax.Array:
        """Apply the network to the inputs that are not None, concatenated on the last axis.

        All inputs must have the same leading shape and at least one of them a non-zero width.
        """
        parts = [part for part in inputs if part is not None]
        dtype = jnp.result_type(*parts)
        hidden = jnp.concatenate([part.astype(dtype) for part in parts], axis=-1)
        leading_shape = hidden.shape[:-1]
        for layer in self._hidden_layers:
            hidden = self._activation(layer(hidden))
        outputs = self._output_layer(hidden)
        return outputs.reshape(*leading_shape, *self._output_shape)
