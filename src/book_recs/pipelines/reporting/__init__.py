"""Model comparison, paired differences, figures and recommendations (08_reporting)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
