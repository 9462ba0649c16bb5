"""The recommender that reads the reader's library: candidates from the library, FinalMLP
re-ranking them, in namespace ``library.recommender``."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
