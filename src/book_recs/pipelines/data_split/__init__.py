"""Split the cleaned ratings by user into train / valid / test."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
