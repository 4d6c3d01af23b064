"""Conditional normalizing-flow layers in Haiku: bijections and dimension-reducing funnels.

All layers are Haiku modules and must be created and called inside `hk.transform`. Every layer
maps data to latent values with `inverse_and_log_det(y, x)` and latent values to data with
`forward_and_log_det(z, x)`, where the context `x` is optional.
"""

from surjectors_core.bijections import (
    LULinear,
    MaskedAutoregressive,
    MaskedCoupling,
    Permutation,
    random_permutation,
    reverse_permutation,
)
from surjectors_core.builder import make_flow, validate_latent_widths
from surjectors_core.chain import Chain, Layer, TransformedDistribution
from surjectors_core.decoders import Decoder, GaussianDecoder
from surjectors_core.made import MADE
from surjectors_core.surjections import (
    LULinearFunnel,
    MaskedAutoregressiveFunnel,
    MaskedCouplingFunnel,
    Slice,
)
from surjectors_core.transforms import (
    AffineTransform,
    ElementwiseTransform,
    RationalQuadraticSpline,
)

__all__ = [
    "MADE",
    "AffineTransform",
    "Chain",
    "Decoder",
    "ElementwiseTransform",
    "GaussianDecoder",
    "LULinear",
    "LULinearFunnel",
    "Layer",
    "MaskedAutoregressive",
    "MaskedAutoregressiveFunnel",
    "MaskedCoupling",
    "MaskedCouplingFunnel",
    "Permutation",
    "RationalQuadraticSpline",
    "Slice",
    "TransformedDistribution",
    "make_flow",
    "random_permutation",
    "reverse_permutation",
    "validate_latent_widths",
]
