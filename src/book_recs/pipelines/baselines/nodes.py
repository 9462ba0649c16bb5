"""Nodes of the baselines pipeline: thin wrappers around ``book_recs.baselines``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from catboost import CatBoostClassifier, CatBoostRanker

from book_recs.baselines import (
    CatBoostConfig,
    PopularityRates,
    fit_catboost_classifier,
    fit_catboost_ranker,
    fit_popularity,
    predict_like_probability,
    predict_popularity,
    predict_relevance,
    random_scores,
    scores_frame,
)
from book_recs.models.feature_spec import FeatureSpec

logger = logging.getLogger(__name__)


def train_catboost_ranker(train: pd.DataFrame, valid: pd.DataFrame, specs: list[FeatureSpec],
                          params: dict[str, Any]) -> tuple[CatBoostRanker, dict[str, Any]]:
    """Fit the YetiRank ranker (early stopping on valid) from ``params:catboost_ranker.model``;
    return it and its training summary."""
    return fit_catboost_ranker(train, valid, specs, CatBoostConfig.from_params(params))


def train_catboost_classifier(train: pd.DataFrame, valid: pd.DataFrame, specs: list[FeatureSpec],
                              params: dict[str, Any]) -> tuple[CatBoostClassifier, dict[str, Any]]:
    """Fit the Logloss classifier (early stopping on valid AUC) from
    ``params:catboost_classifier.model``; return it and its training summary."""
    return fit_catboost_classifier(train, valid, specs, CatBoostConfig.from_params(params))


def score_with_ranker(model: CatBoostRanker, rows: pd.DataFrame) -> pd.DataFrame:
    """Scores table with the ranker's predicted relevance as ``score`` (no probability)."""
    scores = scores_frame(rows, predict_relevance(model, rows))
    logger.info("catboost_ranker scored %d rows", len(scores))
    return scores


def score_with_classifier(model: CatBoostClassifier, rows: pd.DataFrame) -> pd.DataFrame:
    """Scores table with ``score`` = ``probability`` = the classifier's P(label = 1)."""
    probability = predict_like_probability(model, rows)
    scores = scores_frame(rows, probability, probability)
    logger.info("catboost_classifier scored %d rows", len(scores))
    return scores


def fit_popularity_rates(train: pd.DataFrame, params: dict[str, Any]) -> PopularityRates:
    """Fit smoothed book / author / global positive rates on the train rows only.

    Args:
        train: ``model_input_train`` (``ISBN``, ``label`` and the author id column).
        params: ``author_column``, ``book_prior_strength``, ``author_prior_strength``.
    """
    rates = fit_popularity(train, params["author_column"], params["book_prior_strength"],
                           params["author_prior_strength"])
    logger.info("popularity: %d books, %d authors, global positive rate %.4f",
                len(rates.book_rates), len(rates.author_rates), rates.global_rate)
    return rates


def score_with_popularity(rates: PopularityRates, rows: pd.DataFrame) -> pd.DataFrame:
    """Scores table with ``score`` = ``probability`` = the smoothed popularity rate."""
    probability = predict_popularity(rates, rows)
    seen = rows["ISBN"].isin(rates.book_rates.index).mean() if len(rows) else 0.0
    logger.info("popularity scored %d rows (%.1f%% of books seen in train)", len(rows), 100 * seen)
    return scores_frame(rows, probability, probability)


def score_randomly(rows: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Scores table with seeded uniform random scores (``params["seed"]``), no probability."""
    return scores_frame(rows, random_scores(len(rows), int(params["seed"])))
