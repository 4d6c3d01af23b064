"""Surjective sequential neural likelihood estimation (SSNL) for simulation-based inference."""

from ssnl.constraints import UnconstrainingMap, make_unconstraining_map, prior_support
from ssnl.inference import FitResult, FlowConfig, RoundRecord, default_latent_widths, fit
from ssnl.mcmc import SamplerConfig
from ssnl.task import Task
from ssnl.train import TrainingConfig

__all__ = [
    "FitResult",
    "FlowConfig",
    "RoundRecord",
    "SamplerConfig",
    "Task",
    "TrainingConfig",
    "UnconstrainingMap",
    "default_latent_widths",
    "fit",
    "make_unconstraining_map",
    "prior_support",
]
