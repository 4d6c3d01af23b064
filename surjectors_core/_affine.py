"""Bounded scale shared by the affine transform, the decoder and the LU layers."""

from __future__ import annotations

import jax
import numpy as np


def bounded_scale(raw: jax.Array, min_scale: float) -> jax.Array:
    """Map an unconstrained network output to a scale of at least `min_scale`.

    The softplus input is shifted so that `raw == 0` gives scale exactly 1. Networks whose last
    layer starts at zero therefore start as the identity (or, for a decoder, unit variance).
    Unlike `exp`, softplus grows linearly, so a large raw value cannot overflow the scale.
    """
    offset = float(np.log(np.expm1(1.0 - min_scale)))
    return min_scale + jax.nn.softplus(raw + offset)
