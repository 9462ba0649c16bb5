"""Baselines scored over the same splits and features as FinalMLP."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
