"""The two-stage recommender: candidate books, the recommender, a request answered, its evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
