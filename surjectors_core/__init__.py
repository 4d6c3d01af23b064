"""Conditional normalizing-flow layers in Haiku: MAF bijections and dimension-reducing funnels.

All layers are Haiku modules and must be created and called inside `hk.transform`. Every layer
maps data to latent values with `inverse_and_log_det(y, x)` and latent values to data with
`forward_and_log_det(z, x)`, where the context `x` is optional.
"""

from surjectors_core.bijections import MaskedAutoregressive, Permutation, reverse_permutation
from surjectors_core.builder import make_flow, validate_latent_widths
from surjectors_core.chain import Chain, Layer, TransformedDistribution
from surjectors_core.decoders import Decoder, GaussianDecoder
from surjectors_core.made import MADE
from surjectors_core.surjections import MaskedAutoregressiveFunnel

__all__ = [
    "MADE",
    "Chain",
    "Decoder",
    "GaussianDecoder",
    "Layer",
    "MaskedAutoregressive",
    "MaskedAutoregressiveFunnel",
    "Permutation",
    "TransformedDistribution",
    "make_flow",
    "reverse_permutation",
    "validate_latent_widths",
]
