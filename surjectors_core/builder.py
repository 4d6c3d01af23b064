"""Builder for conditional flows that funnel the data down through decreasing widths."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from surjectors_core._validation import (
    validate_hidden_sizes,
    validate_min_scale,
    validate_non_negative_integer,
    validate_positive_integer,
)
from surjectors_core.bijections import MaskedAutoregressive, MaskedCoupling, reverse_permutation
from surjectors_core.chain import Chain, Layer, TransformedDistribution
from surjectors_core.surjections import (
    LULinearFunnel,
    MaskedAutoregressiveFunnel,
    MaskedCouplingFunnel,
    Slice,
)
from surjectors_core.transforms import AffineTransform, RationalQuadraticSpline

__all__ = ["make_flow", "validate_latent_widths"]

_WIDTH_RULE = (
    "latent_widths must be positive integers that strictly decrease, with the first one "
    "smaller than data_dim"
)


def validate_latent_widths(data_dim: int, latent_widths: Sequence[int]) -> tuple[int, ...]:
    """Check the widths a flow funnels through and return them as a tuple of ints.

    Args:
        data_dim: Dimension of the data, a positive integer.
        latent_widths: Widths after each funnel, for example `[50, 25]` for data_dim 100.
            Empty for a purely bijective flow.

    Returns:
        The widths as a tuple of Python ints.

    Raises:
        ValueError: If `data_dim` is not a positive integer, or if a width is not an integer,
            is not positive, or is not smaller than the width before it (data_dim for the
            first). The message states the rule and the offending entry.
    """
    data_dim = validate_positive_integer(data_dim, "data_dim")
    if isinstance(latent_widths, str | bytes):
        raise ValueError(f"{_WIDTH_RULE}, but got the string {latent_widths!r}.")
    try:
        widths = tuple(latent_widths)
    except TypeError:
        raise ValueError(
            f"{_WIDTH_RULE}, but got {latent_widths!r}, which is not a sequence."
        ) from None

    previous, previous_label = data_dim, f"data_dim={data_dim}"
    for index, width in enumerate(widths):
        is_integer = isinstance(width, int | np.integer) and not isinstance(width, bool)
        if not is_integer:
            raise ValueError(
                f"{_WIDTH_RULE}, but latent_widths[{index}] = {width!r} is not an integer."
            )
        if width <= 0:
            raise ValueError(
                f"{_WIDTH_RULE}, but latent_widths[{index}] = {width} is not positive."
            )
        if width >= previous:
            raise ValueError(
                f"{_WIDTH_RULE}, but latent_widths[{index}] = {width} is not smaller than "
                f"{previous_label}."
            )
        previous, previous_label = width, f"latent_widths[{index}] = {width}"
    return tuple(int(width) for width in widths)


_TRANSFORMS = ("affine", "spline")
_FAMILIES = ("autoregressive", "coupling")
_FUNNELS = ("autoregressive", "coupling", "linear", "slice")


def _validate_choice(value, choices: tuple[str, ...], argument: str) -> str:
    if value not in choices:
        raise ValueError(f"{argument} must be one of {list(choices)}, got {value!r}.")
    return value


def _stage_bijections(
    stage: int, width: int, num_layers: int, family: str, make_transform, network: dict
) -> list[Layer]:
    """Create `num_layers` autoregressive or coupling layers with reversals between them."""
    layers: list[Layer] = []
    for index in range(num_layers):
        if index > 0:
            layers.append(reverse_permutation(width, name=f"stage_{stage}_reverse_{index}"))
        if family == "autoregressive":
            layer = MaskedAutoregressive(
                transform=make_transform(), name=f"stage_{stage}_maf_{index}", **network
            )
        else:
            # The first half conditions the second, and the reversal swaps the roles.
            mask = np.arange(width) < width // 2
            layer = MaskedCoupling(
                mask, transform=make_transform(), name=f"stage_{stage}_coupling_{index}", **network
            )
        layers.append(layer)
    return layers


def _make_funnel(kind: str, width: int, num_kept: int, name: str, make_transform, network: dict):
    """Create the funnel of type `kind` from `width` to `num_kept` coordinates."""
    if kind == "autoregressive":
        return MaskedAutoregressiveFunnel(
            num_kept, data_dim=width, transform=make_transform(), name=name, **network
        )
    if kind == "coupling":
        return MaskedCouplingFunnel(
            num_kept, data_dim=width, transform=make_transform(), name=name, **network
        )
    if kind == "linear":
        return LULinearFunnel(num_kept, data_dim=width, name=name, **network)
    return Slice(num_kept, data_dim=width, name=name, **network)


def make_flow(
    data_dim: int,
    context_dim: int,
    latent_widths: Sequence[int] = (),
    *,
    num_layers_per_stage: int = 2,
    hidden_sizes: Sequence[int] = (50, 50),
    min_scale: float = 1e-3,
    transform: str = "affine",
    family: str = "autoregressive",
    funnel: str | None = None,
    num_bins: int = 8,
    bound: float = 4.0,
) -> Callable[[], TransformedDistribution]:
    """Return a function that builds a conditional flow inside `hk.transform`.

    Every width, starting at `data_dim`, gets a stage of `num_layers_per_stage`
    MaskedAutoregressive (or MaskedCoupling) layers with a reversing Permutation between
    consecutive ones. A funnel with a GaussianDecoder then reduces the data to the next width.
    The last width gets a stage of its own but no funnel. For data_dim 100 and latent_widths
    `[50, 25]` the data-to-latent order is MAF, MAF, funnel(100 -> 50), MAF, MAF,
    funnel(50 -> 25), MAF, MAF, with reversals between the MAF pairs. Empty `latent_widths`
    gives a bijective flow of `num_layers_per_stage` MAF layers.

    The layers have fixed names (`stage_{i}_maf_{j}`, `stage_{i}_funnel`, ...) and are all
    created when the returned function is called, so transforms that call different methods
    (for example `log_prob` and `sample_and_log_prob`) share one parameter tree. Call the
    returned function once per transformed function, because a second call creates a second
    set of layers with new names.

    Args:
        data_dim: Dimension of the data.
        context_dim: Dimension of the context, 0 for an unconditional flow.
        latent_widths: Strictly decreasing widths below `data_dim`, as checked by
            `validate_latent_widths`.
        num_layers_per_stage: Number of autoregressive or coupling layers per stage.
        hidden_sizes: Hidden layer widths of every conditioner and decoder.
        min_scale: Lower bound of every scale, in (0, 1).
        transform: Elementwise transform of the bijections and of the autoregressive and
            coupling funnels, "affine" (AffineTransform) or "spline" (RationalQuadraticSpline).
        family: "autoregressive" for MaskedAutoregressive layers, "coupling" for
            MaskedCoupling layers whose first half of the coordinates conditions the second.
            Coupling needs every width, data_dim included, to be at least 2.
        funnel: "autoregressive" (MaskedAutoregressiveFunnel), "coupling"
            (MaskedCouplingFunnel), "linear" (LULinearFunnel) or "slice" (Slice). None means
            the funnel of `family`.
        num_bins: Number of spline bins, used when `transform` is "spline".
        bound: Half-width of the spline interval `[-bound, bound]`, used when `transform` is
            "spline".

    Returns:
        A zero-argument function that creates the `TransformedDistribution`. It must be called
        inside `hk.transform`.

    Raises:
        ValueError: On any invalid argument, before any module is built.
    """
    widths = validate_latent_widths(data_dim, latent_widths)
    context_dim = validate_non_negative_integer(context_dim, "context_dim")
    num_layers_per_stage = validate_positive_integer(num_layers_per_stage, "num_layers_per_stage")
    hidden_sizes = validate_hidden_sizes(hidden_sizes)
    min_scale = validate_min_scale(min_scale)
    transform = _validate_choice(transform, _TRANSFORMS, "transform")
    family = _validate_choice(family, _FAMILIES, "family")
    funnel = family if funnel is None else _validate_choice(funnel, _FUNNELS, "funnel")
    stage_widths = (int(data_dim), *widths)
    if family == "coupling" and min(stage_widths) < 2:
        raise ValueError(
            f"family='coupling' needs data_dim and every latent width to be at least 2, because "
            f"a coupling layer conditions one part of the coordinates on another, got widths "
            f"{list(stage_widths)}. Use family='autoregressive' or widths of at least 2."
        )
    if transform == "spline":
        # Validate the spline arguments now, so errors appear before any module is built.
        RationalQuadraticSpline(num_bins, bound)

        def make_transform():
            return RationalQuadraticSpline(num_bins, bound)
    else:

        def make_transform():
            return AffineTransform(min_scale)

    network = {"hidden_sizes": hidden_sizes, "min_scale": min_scale}

    def make() -> TransformedDistribution:
        layers: list[Layer] = []
        for stage, width in enumerate(stage_widths):
            layers.extend(
                _stage_bijections(
                    stage, width, num_layers_per_stage, family, make_transform, network
                )
            )
            if stage + 1 < len(stage_widths):
                layers.append(
                    _make_funnel(
                        funnel,
                        width,
                        stage_widths[stage + 1],
                        f"stage_{stage}_funnel",
                        make_transform,
                        network,
                    )
                )
        flow = Chain(layers, name="flow")
        return TransformedDistribution(flow, stage_widths[-1], context_dim=context_dim)

    return make
