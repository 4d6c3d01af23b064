"""Surjective sequential neural likelihood estimation (SSNL) for simulation-based inference."""

from ssnl.task import Task

__all__ = ["Task"]
