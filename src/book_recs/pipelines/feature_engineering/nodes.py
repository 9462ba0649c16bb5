"""Nodes of the feature stage: thin wrappers over ``book_recs.features``."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from book_recs.features import FeatureTransformer, FieldConfig, load_title_encoder
from book_recs.models.feature_spec import FeatureSpec

logger = logging.getLogger(__name__)


def update_title_embeddings(
    ratings: pd.DataFrame, cache: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """Add embeddings of the titles the cache lacks for this encoder; never re-encode a title.

    Args:
        ratings: Cleaned ratings (all splits: one encoding per unique title).
        cache: Cached embeddings, columns ``encoder``, ``title``, ``embedding`` (may be empty).
        params: ``title_encoder`` (name or path), ``encode_batch_size``.

    Returns:
        The cache with one row per (encoder, title) seen so far.
    """
    encoder_name = params["title_encoder"]
    known = set(cache.loc[cache["encoder"] == encoder_name, "title"]) if len(cache) else set()
    titles = sorted(set(ratings["Book-Title"].unique()) - known)
    logger.info("title embeddings (%s): %d cached, %d to encode", encoder_name, len(known), len(titles))
    if not titles:
        return cache
    start = time.perf_counter()
    vectors = load_title_encoder(encoder_name).encode(
        titles, batch_size=params["encode_batch_size"], show_progress_bar=True,
        convert_to_numpy=True,
    )
    seconds = time.perf_counter() - start
    logger.info("encoded %d titles in %.1f s (%.0f titles/s)", len(titles), seconds,
                len(titles) / max(seconds, 1e-9))
    new = pd.DataFrame({"encoder": encoder_name, "title": titles,
                        "embedding": list(np.asarray(vectors, dtype=np.float32))})
    return pd.concat([cache, new], ignore_index=True) if len(cache) else new


def fit_feature_transformer(
    train: pd.DataFrame, embeddings: pd.DataFrame, params: dict[str, Any]
) -> FeatureTransformer:
    """Fit title PCA, numeric imputation/scaling and vocabularies on the train split only."""
    return FeatureTransformer.fit(train, embeddings, FieldConfig.from_params(params))


def build_model_input(
    ratings: pd.DataFrame, embeddings: pd.DataFrame, transformer: FeatureTransformer
) -> pd.DataFrame:
    """Model input of one split with the transformer fitted on train."""
    return transformer.transform(ratings, embeddings)


def build_feature_specs(transformer: FeatureTransformer) -> list[FeatureSpec]:
    """The feature schema the models read."""
    specs = transformer.feature_specs()
    logger.info("%d fields: %s", len(specs),
                ", ".join(f"{s.name}({s.kind[:3]},{s.context})" for s in specs[:3]) + ", ...")
    return specs
