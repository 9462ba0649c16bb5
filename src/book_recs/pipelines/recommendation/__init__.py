"""Rank candidate books for a new user profile."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
