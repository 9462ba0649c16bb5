"""Nodes of the feature stage: thin wrappers over the plain-Python ``book_recs.features``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from book_recs.features import (
    FeatureTransformers,
    FieldConfig,
    add_title_embeddings,
    build_model_input,
    build_train_model_input,
    encoder_key,
    load_title_encoder,
)
from book_recs.models.feature_spec import FeatureSpec

logger = logging.getLogger(__name__)

__all__ = ["build_feature_specs", "build_model_input", "build_train_model_input",
           "fit_feature_transformers", "update_title_embeddings"]


def update_title_embeddings(
    ratings: pd.DataFrame, cache: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """Encode every unique title the cache lacks for the configured encoder.

    Args:
        ratings: Cleaned ratings of all splits (one encoding per unique ``Book-Title``).
        cache: The cache so far (``title_embeddings_cached``; empty on the first run).
        params: ``title_encoder`` (sentence-transformers name or path) and ``title_device``
            (``auto``, ``cpu``, ``cuda`` or ``cuda:N``).

    Returns:
        The cache with one row per (encoder, title) seen so far: saved as ``title_embeddings``,
        the same file the next run reads as ``title_embeddings_cached``.
    """
    name, device = params["title_encoder"], params["title_device"]
    return add_title_embeddings(cache, ratings["Book-Title"], encoder_key(name, device),
                                lambda: load_title_encoder(name, device))


def fit_feature_transformers(
    train: pd.DataFrame, implicit: pd.DataFrame, title_embeddings: pd.DataFrame,
    params: dict[str, Any]
) -> FeatureTransformers:
    """Fit title PCA, numeric imputation/scaling and category vocabularies on train only.

    Args:
        train: ``train_ratings``.
        implicit: ``implicit_interactions`` of all users; the item statistics count those of
            train users only.
        title_embeddings: The title-embedding cache.
        params: The ``feature_engineering`` parameters (fields, PCA share, min count, seed).

    Returns:
        The fitted ``FeatureTransformers`` (pickled as ``feature_transformers``).
    """
    return FeatureTransformers.fit(train, title_embeddings, FieldConfig.from_params(params),
                                   implicit)


def build_feature_specs(
    transformers: FeatureTransformers, params: dict[str, Any]
) -> list[FeatureSpec]:
    """The feature schema the models read, with each field's stream context.

    Args:
        transformers: Fitted ``FeatureTransformers``.
        params: ``user_fields``: the fields of the user side; the rest are item fields.

    Returns:
        One ``FeatureSpec`` per model-input field, in model-input column order.
    """
    specs = transformers.feature_specs(params["user_fields"])
    numeric = sum(s.kind == "numeric" for s in specs)
    logger.info("%d fields: %d numeric, %d categorical; user side: %s", len(specs), numeric,
                len(specs) - numeric, [s.name for s in specs if s.context == "user"])
    return specs
