"""Validation and cleaning of the raw Book-Crossing tables."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
