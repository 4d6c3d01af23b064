"""Argument checks shared by the layers and the flow builder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _is_integer(value) -> bool:
    # bool is a subclass of int, but `True` as a layer width is almost surely a mistake.
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def validate_hidden_sizes(hidden_sizes: Sequence[int], argument: str = "hidden_sizes") -> tuple:
    """Return `hidden_sizes` as a tuple after checking that every entry is a positive integer."""
    try:
        sizes = tuple(hidden_sizes)
    except TypeError:
        raise ValueError(
            f"{argument} must be a sequence of positive integers, got {hidden_sizes!r}."
        ) from None
    for index, size in enumerate(sizes):
        if not _is_integer(size) or size <= 0:
            raise ValueError(
                f"{argument} must contain positive integers, got {argument}[{index}] = {size!r}."
            )
    return tuple(int(size) for size in sizes)


def validate_min_scale(min_scale: float) -> float:
    """Return `min_scale` as a float after checking that it lies in the open interval (0, 1).

    The upper bound exists because the layers shift the raw scale so that a zero network output
    gives scale 1, which needs `min_scale < 1`.
    """
    value = float(min_scale)
    if not 0.0 < value < 1.0:
        raise ValueError(f"min_scale must satisfy 0 < min_scale < 1, got {min_scale!r}.")
    return value


def validate_positive_integer(value, argument: str) -> int:
    """Return `value` as an int after checking that it is a positive integer."""
    if not _is_integer(value) or value <= 0:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}.")
    return int(value)


def validate_non_negative_integer(value, argument: str) -> int:
    """Return `value` as an int after checking that it is an integer >= 0."""
    if not _is_integer(value) or value < 0:
        raise ValueError(f"{argument} must be a non-negative integer, got {value!r}.")
    return int(value)


def context_or_none(x):
    """Return None for a missing or zero-width context, so layers see one "no context" value."""
    if x is None or x.shape[-1] == 0:
        return None
    return x


def check_context_batch(y, x, layer_name: str) -> None:
    """Raise ValueError unless the context has the same leading (batch) shape as `y`."""
    if x is not None and x.shape[:-1] != y.shape[:-1]:
        raise ValueError(
            f"{layer_name}: context must have the same leading shape as the input, got input "
            f"shape {tuple(y.shape)} and context shape {tuple(x.shape)}. Broadcast the context "
            "to the batch before calling the layer."
        )
