"""Hyperparameter search on the valid split (Optuna)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
