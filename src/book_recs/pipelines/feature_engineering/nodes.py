"""Nodes of the feature stage: thin wrappers over the plain-Python ``book_recs.features``.

The relational steps (statistics, vocabularies, scaling, model-input assembly) are Ibis
expressions that run on the catalog's engine; the title encoder and its PCA work on the
(small, model-shaped) table of unique titles in pandas and numpy.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from book_recs.columns import USER_COLUMN
from book_recs.features import (
    FieldConfig,
    add_title_embeddings,
    encoder_key,
    load_title_encoder,
    model_input,
)
from book_recs.features import item_statistics as statistics_module
from book_recs.features import title_components as components_module
from book_recs.features.fields import TITLE_FIELD
from book_recs.features.item_statistics import FOLD_COLUMN
from book_recs.models.feature_spec import FeatureSpec
from book_recs.pipelines.data_split.nodes import SPLIT_COLUMN

logger = logging.getLogger(__name__)


def list_titles(ratings: ir.Table) -> ir.Table:
    """The distinct titles of ``ratings``, in order of first appearance (``row_order``)."""
    titled = ratings.filter(ratings[TITLE_FIELD].notnull())
    first = titled.group_by(TITLE_FIELD).aggregate(_first=titled[model_input.ORDER_COLUMN].min())
    return first.order_by("_first").select(TITLE_FIELD)


def update_title_embeddings(
    titles: pd.DataFrame, cache: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """Encode every title the cache lacks for the configured encoder.

    Args:
        titles: The distinct titles of the cleaned ratings (``book_titles``).
        cache: The cache so far (``title_embeddings_cached``; empty on the first run).
        params: ``title_encoder`` (sentence-transformers name or path), ``title_device``
            (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) and ``title_processes`` (``auto`` or a
            number of CPU worker processes: they change the speed, never the vectors).

    Returns:
        The cache with one row per (encoder, title) seen so far: saved as ``title_embeddings``,
        the same file the next run reads as ``title_embeddings_cached``.
    """
    name, device = params["title_encoder"], params["title_device"]
    return add_title_embeddings(cache, titles[TITLE_FIELD], encoder_key(name, device),
                                lambda: load_title_encoder(name, device, params["title_processes"]))


def fit_title_pca(train_titles: pd.DataFrame, title_embeddings: pd.DataFrame,
                  params: dict[str, Any]) -> PCA:
    """PCA of the train split's title embeddings (``pca_variance_share`` of the variance)."""
    config = FieldConfig.from_params(params)
    return components_module.fit_title_pca(train_titles[TITLE_FIELD], title_embeddings,
                                           config.title_encoder, config.pca_variance_share,
                                           config.seed)


def project_titles(titles: pd.DataFrame, title_embeddings: pd.DataFrame, pca: PCA,
                   params: dict[str, Any]) -> pd.DataFrame:
    """The PCA components of every title (``title_components``: one row per title)."""
    return components_module.project_titles(titles[TITLE_FIELD], title_embeddings,
                                            FieldConfig.from_params(params).title_encoder, pca)


def assign_statistics_folds(user_splits: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """A fold per train user for the out-of-fold item statistics, drawn with ``seed``.

    Raises:
        ValueError: Fewer train users than folds.
    """
    config = FieldConfig.from_params(params)
    users = np.sort(user_splits.loc[user_splits[SPLIT_COLUMN] == "train", USER_COLUMN].unique())
    if len(users) < config.statistics_folds:
        raise ValueError(f"{config.statistics_folds} user folds need at least "
                         f"{config.statistics_folds} train users, got {len(users)}")
    folds = np.random.default_rng(config.seed).permutation(len(users)) % config.statistics_folds
    return pd.DataFrame({USER_COLUMN: users.astype(np.int64), FOLD_COLUMN: folds.astype(np.int64)})


def count_item_statistics(train: ir.Table, implicit: ir.Table, folds: ir.Table,
                          params: dict[str, Any]) -> tuple[ir.Table, ir.Table]:
    """Per (key, value, fold) sums of the train ratings and the train users' implicit
    interactions, and the per-fold priors (see ``book_recs.features.item_statistics``)."""
    keys = FieldConfig.from_params(params).item_statistic_keys
    return statistics_module.count_item_statistics(train, implicit, folds, keys)


def fit_vocabularies(train: ir.Table, params: dict[str, Any]) -> ir.Table:
    """The category vocabularies of the train rows (field, token, id; 0 is out of vocabulary)."""
    return model_input.fit_vocabularies(train, FieldConfig.from_params(params))


def fit_scaling(train: ir.Table, title_components: ir.Table, statistics: ir.Table,
                priors: ir.Table, folds: ir.Table, params: dict[str, Any]) -> ir.Table:
    """Median, minimum and maximum of every numeric column over the train rows (their item
    statistics out of fold, as the train model input has them); one row, written by the
    engine like every fitted table."""
    config = FieldConfig.from_params(params)
    numbers = model_input.numeric_features(train, config, title_components, statistics, priors,
                                           row_folds=folds)
    return ibis.memtable(model_input.fit_scaling(
        numbers, model_input.numeric_columns(config, title_components)))


def build_model_input(ratings: ir.Table, title_components: ir.Table, statistics: ir.Table,
                      priors: ir.Table, vocabularies: ir.Table, scaling: pd.DataFrame,
                      params: dict[str, Any]) -> ir.Table:
    """Model input of valid or test rows (or any cleaned-like rows) with what train fitted."""
    return model_input.build_model_input(ratings, FieldConfig.from_params(params),
                                         title_components, statistics, priors, vocabularies,
                                         scaling, materialize=True)


def build_train_model_input(ratings: ir.Table, title_components: ir.Table, statistics: ir.Table,
                            priors: ir.Table, vocabularies: ir.Table, scaling: pd.DataFrame,
                            folds: ir.Table, params: dict[str, Any]) -> ir.Table:
    """Model input of the train rows: as ``build_model_input``, but each row's item statistics
    come from the other user folds, never from its own label."""
    return model_input.build_model_input(ratings, FieldConfig.from_params(params),
                                         title_components, statistics, priors, vocabularies,
                                         scaling, row_folds=folds, materialize=True)


def build_feature_specs(vocabularies: pd.DataFrame, scaling: pd.DataFrame,
                        params: dict[str, Any]) -> list[FeatureSpec]:
    """The feature schema the models read, with each field's stream context.

    Args:
        vocabularies: ``fit_vocabularies``'s table.
        scaling: ``fit_scaling``'s table (its columns name the numeric fields, in order).
        params: The ``feature_engineering`` parameters (``user_fields``: the user side).

    Returns:
        One ``FeatureSpec`` per model-input field, in model-input column order.
    """
    config = FieldConfig.from_params(params)
    numeric = list(model_input.column_scalings(scaling))
    sizes = vocabularies.groupby("field")["id"].max()
    vocab_sizes = {name: int(sizes.get(name, 0)) + 1 for name in config.categorical_fields}
    specs = config.feature_specs(numeric, vocab_sizes)
    logger.info("%d fields: %d numeric, %d categorical; user side: %s; vocabulary sizes (OOV "
                "included): %s", len(specs), len(numeric), len(vocab_sizes),
                [s.name for s in specs if s.context == "user"], vocab_sizes)
    return specs
