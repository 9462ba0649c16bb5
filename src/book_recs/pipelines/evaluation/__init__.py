"""Metrics with user-bootstrap intervals for every model, one namespace per model."""

from .pipeline import MODEL_NAMESPACES, create_pipeline

__all__ = ["MODEL_NAMESPACES", "create_pipeline"]
