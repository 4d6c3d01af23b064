"""Surjective sequential neural likelihood estimation (SSNL) for simulation-based inference."""

from ssnl import priors
from ssnl.constraints import UnconstrainingMap, make_unconstraining_map, prior_support
from ssnl.inference import FitResult, FlowConfig, RoundRecord, default_latent_widths, fit
from ssnl.mcmc import SamplerConfig
from ssnl.priors import IndependentPrior, box_uniform
from ssnl.task import Task
from ssnl.train import TrainingConfig

__all__ = [
    "FitResult",
    "FlowConfig",
    "IndependentPrior",
    "RoundRecord",
    "SamplerConfig",
    "Task",
    "TrainingConfig",
    "UnconstrainingMap",
    "box_uniform",
    "default_latent_widths",
    "fit",
    "make_unconstraining_map",
    "prior_support",
    "priors",
]
