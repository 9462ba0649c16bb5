"""Baseline recommenders scored like FinalMLP: CatBoost ranker and classifier, popularity, random.

Plain Python (no Kedro): the ``baselines`` pipeline wires these functions into nodes.
"""

from .catboost_models import (
    CatBoostConfig,
    feature_columns,
    fit_catboost,
    fit_catboost_classifier,
    fit_catboost_ranker,
    predict_like_probability,
    predict_relevance,
    score_catboost,
    sort_by_group,
)
from .popularity import PopularityRates, fit_popularity, predict_popularity
from .scores import random_scores, scores_frame

__all__ = [
    "CatBoostConfig",
    "PopularityRates",
    "feature_columns",
    "fit_catboost",
    "fit_catboost_classifier",
    "fit_catboost_ranker",
    "fit_popularity",
    "predict_like_probability",
    "predict_popularity",
    "predict_relevance",
    "random_scores",
    "score_catboost",
    "scores_frame",
    "sort_by_group",
]
