"""FinalMLP and its DualMLP ablation: training, scoring, explanation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
