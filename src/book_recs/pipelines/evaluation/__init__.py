"""Metrics with user-bootstrap intervals for every model, one namespace per model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
