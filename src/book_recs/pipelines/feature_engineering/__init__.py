"""Title embeddings, fitted feature transformers and model input."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
