"""CatBoost baselines on the model-input tables: a YetiRank ranker and a Logloss classifier.

Both read the columns named by the feature specs (less any ``exclude_fields`` glob patterns in
their parameters): categorical ids go in as CatBoost categorical features, numeric columns as
numeric ones. Both stop early on the valid split and keep the best iteration. Nothing is
written to disk (``allow_writing_files=False``), and CatBoost's progress lines go through
``logging``.

Example:
    >>> from book_recs.models.feature_spec import FeatureSpec
    >>> feature_columns([FeatureSpec("Age", "numeric"), FeatureSpec("country", "categorical", 5)])
    (['country'], ['Age'])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, CatBoostRanker, Pool

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.models.feature_spec import FeatureSpec, drop_fields

logger = logging.getLogger(__name__)

GROUP_COLUMN = USER_COLUMN  # one ranking query per user


class _LogStream:
    """A write-only text stream that sends each complete line to a logger (CatBoost's log_cout)."""

    def __init__(self, log: logging.Logger, prefix: str) -> None:
        self._log, self._prefix, self._pending = log, prefix, ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self._log.info("%s %s", self._prefix, line.strip())
        return len(text)

    def flush(self) -> None:
        """Lines are logged as they complete; nothing is buffered beyond a partial line."""


def feature_columns(specs: Sequence[FeatureSpec]) -> tuple[list[str], list[str]]:
    """Categorical and numeric column names from the specs; sequence fields are skipped (logged).

    Returns:
        ``(categorical, numeric)`` in spec order.
    """
    skipped = [s.name for s in specs if s.kind == "sequence"]
    if skipped:
        logger.warning("CatBoost baselines skip sequence fields %s", skipped)
    categorical = [s.name for s in specs if s.kind == "categorical"]
    numeric = [s.name for s in specs if s.kind == "numeric"]
    if not categorical and not numeric:
        raise ValueError("no categorical or numeric feature specs to train on")
    return categorical, numeric


def sort_by_group(rows: pd.DataFrame, group_column: str = GROUP_COLUMN) -> pd.DataFrame:
    """Rows reordered so each group is one contiguous block (stable: order inside a group kept).

    CatBoost's ranking losses require the objects of one group to be adjacent.
    """
    return rows.sort_values(group_column, kind="stable").reset_index(drop=True)


def _pool(rows: pd.DataFrame, specs: Sequence[FeatureSpec], target: str,
          group_column: str | None = None) -> Pool:
    categorical, numeric = feature_columns(specs)
    return Pool(
        data=rows[categorical + numeric],
        label=rows[target].to_numpy(),
        cat_features=categorical,
        group_id=rows[group_column].to_numpy() if group_column else None,
    )


def _common_options(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "iterations": int(params["iterations"]),
        "learning_rate": float(params["learning_rate"]),
        "depth": int(params["depth"]),
        "l2_leaf_reg": float(params["l2_leaf_reg"]),
        "thread_count": int(params["thread_count"]),
        "random_seed": int(params["random_seed"]),
        "allow_writing_files": False,
    }


def _fit(model: CatBoostRanker | CatBoostClassifier, train_pool: Pool, valid_pool: Pool,
         params: dict[str, Any], name: str) -> dict[str, Any]:
    started = time.perf_counter()
    model.fit(
        train_pool,
        eval_set=valid_pool,
        use_best_model=True,
        early_stopping_rounds=int(params["early_stopping_rounds"]),
        verbose=int(params["log_every"]),
        log_cout=_LogStream(logger, name),
        log_cerr=_LogStream(logger, f"{name} (stderr)"),
    )
    seconds = time.perf_counter() - started
    best_iteration = int(model.get_best_iteration())
    summary = {
        "model": name,
        "loss_function": model.get_params()["loss_function"],
        "eval_metric": model.get_params()["eval_metric"],
        "best_iteration": best_iteration,
        "trees": int(model.tree_count_),
        "best_valid_metrics": {metric: float(values[best_iteration]) for metric, values
                               in model.get_evals_result()["validation"].items()},
        "seconds": round(seconds, 3),
        "train_rows": int(train_pool.num_row()),
        "valid_rows": int(valid_pool.num_row()),
        "features": list(model.feature_names_),
        "thread_count": int(model.get_params()["thread_count"]),
    }
    logger.info("%s: best iteration %d, valid %s, %.1f s", name, summary["best_iteration"],
                summary["best_valid_metrics"], seconds)
    return summary


def fit_catboost_ranker(
    train: pd.DataFrame, valid: pd.DataFrame, specs: Sequence[FeatureSpec], params: dict[str, Any]
) -> tuple[CatBoostRanker, dict[str, Any]]:
    """Fit a YetiRank ranker on ``Book-Rating`` with one query group per user.

    Args:
        train: Train model-input rows (any order; sorted by ``User-ID`` here).
        valid: Valid model-input rows, the early-stopping set.
        specs: Which columns are categorical ids and which numeric.
        params: ``iterations``, ``learning_rate``, ``depth``, ``l2_leaf_reg``, ``thread_count``,
            ``random_seed``, ``early_stopping_rounds``, ``log_every`` and ``eval_metric``
            (a CatBoost ranking metric, e.g. ``NDCG:top=10;type=Base``); optional
            ``exclude_fields`` (glob patterns of fields not to read).

    Returns:
        The fitted model (best iteration kept) and a training summary.
    """
    model = CatBoostRanker(loss_function="YetiRank", eval_metric=params["eval_metric"],
                           **_common_options(params))
    specs = drop_fields(specs, params.get("exclude_fields", []))
    train_pool = _pool(sort_by_group(train), specs, RATING_COLUMN, GROUP_COLUMN)
    valid_pool = _pool(sort_by_group(valid), specs, RATING_COLUMN, GROUP_COLUMN)
    return model, _fit(model, train_pool, valid_pool, params, "catboost_ranker")


def fit_catboost_classifier(
    train: pd.DataFrame, valid: pd.DataFrame, specs: Sequence[FeatureSpec], params: dict[str, Any]
) -> tuple[CatBoostClassifier, dict[str, Any]]:
    """Fit a Logloss classifier on ``label``, stopping early on valid AUC.

    Args:
        train: Train model-input rows.
        valid: Valid model-input rows, the early-stopping set.
        specs: Which columns are categorical ids and which numeric.
        params: ``iterations``, ``learning_rate``, ``depth``, ``l2_leaf_reg``, ``thread_count``,
            ``random_seed``, ``early_stopping_rounds`` and ``log_every``; optional
            ``exclude_fields`` (glob patterns of fields not to read).

    Returns:
        The fitted model (best iteration kept) and a training summary.
    """
    model = CatBoostClassifier(loss_function="Logloss", eval_metric="AUC",
                               custom_metric=["Logloss"], **_common_options(params))
    specs = drop_fields(specs, params.get("exclude_fields", []))
    train_pool = _pool(train, specs, LABEL_COLUMN)
    valid_pool = _pool(valid, specs, LABEL_COLUMN)
    return model, _fit(model, train_pool, valid_pool, params, "catboost_classifier")


def predict_relevance(model: CatBoostRanker, rows: pd.DataFrame) -> np.ndarray:
    """The ranker's relevance per row, in the row order of ``rows``."""
    return model.predict(rows[model.feature_names_])


def predict_like_probability(model: CatBoostClassifier, rows: pd.DataFrame) -> np.ndarray:
    """The classifier's probability of ``label == 1`` per row, in the row order of ``rows``."""
    return model.predict_proba(rows[model.feature_names_])[:, 1]


def fit_catboost(
    train: pd.DataFrame, valid: pd.DataFrame, specs: Sequence[FeatureSpec], params: dict[str, Any],
    *, ranker: bool,
) -> tuple[CatBoostRanker | CatBoostClassifier, dict[str, Any]]:
    """The ranker (``ranker=True``) or the classifier: one entry point for callers that try both."""
    fit = fit_catboost_ranker if ranker else fit_catboost_classifier
    return fit(train, valid, specs, params)


def score_catboost(model: CatBoostRanker | CatBoostClassifier, rows: pd.DataFrame,
                   specs: Sequence[FeatureSpec]) -> np.ndarray:
    """Higher-is-better scores of either model: relevance (ranker) or P(label = 1) (classifier).

    Raises:
        ValueError: If ``specs`` name other features than the model was trained on (a stale
            model against a new feature schema).
    """
    categorical, numeric = feature_columns(specs)
    unknown = sorted(set(model.feature_names_) - set(categorical + numeric))
    if unknown:
        raise ValueError(f"model features {unknown} are not in the specs' "
                         f"{categorical + numeric}")
    if isinstance(model, CatBoostRanker):
        return predict_relevance(model, rows)
    return predict_like_probability(model, rows)
