"""Metrics, user-level bootstrap and report figures; plain Python, no Kedro."""

from .bootstrap import (
    evaluate_scores,
    paired_differences,
    resample_user_counts,
    summarise_per_user,
)
from .metrics import (
    RankedScores,
    average_auc,
    group_auc,
    mean_over_users,
    per_user_metrics,
    weighted_auc,
)
from .top_n import per_reader_top_n_metrics

__all__ = ["RankedScores", "average_auc", "evaluate_scores", "group_auc", "mean_over_users",
           "paired_differences", "per_reader_top_n_metrics", "per_user_metrics",
           "resample_user_counts", "summarise_per_user",
           "weighted_auc"]
