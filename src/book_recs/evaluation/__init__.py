"""Metrics, user-level bootstrap and report figures; plain Python, no Kedro."""

from .bootstrap import evaluate_scores, paired_differences, resample_user_counts
from .metrics import RankedScores, per_user_metrics, weighted_auc

__all__ = ["RankedScores", "evaluate_scores", "paired_differences", "per_user_metrics",
           "resample_user_counts", "weighted_auc"]
