"""CatBoost baselines on the model-input tables: a YetiRank ranker and a Logloss classifier.

Both read the columns named by the feature specs (less any ``exclude_fields`` glob patterns of
their ``CatBoostConfig``): categorical ids go in as CatBoost categorical features, numeric
columns as numeric ones. Both stop early on the valid split and keep the best iteration.
Nothing is written to disk (``allow_writing_files=False``), and CatBoost's progress lines go
through ``logging``.

Example:
    >>> from book_recs.models.feature_spec import FeatureSpec
    >>> feature_columns([FeatureSpec("Age", "numeric"), FeatureSpec("country", "categorical", 5)])
    (['country'], ['Age'])
    >>> CatBoostConfig.from_params({"iterations": 300, "learning_rate": 0.1, "depth": 6,
    ...     "l2_leaf_reg": 3.0, "thread_count": 2, "random_seed": 2021,
    ...     "early_stopping_rounds": 50, "log_every": 50, "exclude_fields": ["Book-Title_*"]}
    ...     ).exclude_fields
    ('Book-Title_*',)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, CatBoostRanker, Pool

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.models.feature_spec import FeatureSpec, drop_fields

logger = logging.getLogger(__name__)

GROUP_COLUMN = USER_COLUMN  # one ranking query per user


@dataclass(frozen=True)
class CatBoostConfig:
    """How a CatBoost baseline is fitted (``params:<namespace>.model`` of the baselines).

    Attributes:
        iterations: Upper bound on the trees; early stopping on valid usually stops sooner.
        learning_rate, depth, l2_leaf_reg: CatBoost's own.
        thread_count: CatBoost is deterministic per thread count (another count, other trees).
        random_seed: CatBoost's seed.
        early_stopping_rounds: Trees without a better valid metric before stopping.
        log_every: One progress line (through ``logging``) every this many trees.
        exclude_fields: Glob patterns of input fields not to read (e.g. ``Book-Title_*``).
        eval_metric: The ranker's early-stopping metric on the valid users (a CatBoost ranking
            metric, e.g. ``NDCG:top=10;type=Base``); the classifier always stops on valid AUC
            and takes none.
    """

    iterations: int
    learning_rate: float
    depth: int
    l2_leaf_reg: float
    thread_count: int
    random_seed: int
    early_stopping_rounds: int
    log_every: int
    exclude_fields: tuple[str, ...] = ()
    eval_metric: str | None = None

    def __post_init__(self) -> None:
        # YAML gives lists; a frozen config keeps a tuple.
        object.__setattr__(self, "exclude_fields", tuple(self.exclude_fields))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CatBoostConfig:
        """From a parameters dict; unknown or missing keys raise a ValueError naming them."""
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        unknown, missing = set(params) - known, required - set(params)
        if unknown or missing:
            raise ValueError(f"CatBoost parameters: unknown {sorted(unknown)}, missing "
                             f"{sorted(missing)}; known: {sorted(known)}")
        return cls(**params)


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

    CatBoost's ranking losses require the objects of one group to be adjacent. Rows already in
    group order (the model input's are) come back as they are: no copy of a wide table.
    """
    if rows[group_column].is_monotonic_increasing:
        return rows
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


def _common_options(config: CatBoostConfig) -> dict[str, Any]:
    return {
        "iterations": int(config.iterations),
        "learning_rate": float(config.learning_rate),
        "depth": int(config.depth),
        "l2_leaf_reg": float(config.l2_leaf_reg),
        "thread_count": int(config.thread_count),
        "random_seed": int(config.random_seed),
        "allow_writing_files": False,
    }


def _fit(model: CatBoostRanker | CatBoostClassifier, train_pool: Pool, valid_pool: Pool,
         config: CatBoostConfig, name: str) -> dict[str, Any]:
    started = time.perf_counter()
    model.fit(
        train_pool,
        eval_set=valid_pool,
        use_best_model=True,
        early_stopping_rounds=int(config.early_stopping_rounds),
        verbose=int(config.log_every),
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
    train: pd.DataFrame, valid: pd.DataFrame, specs: Sequence[FeatureSpec], config: CatBoostConfig
) -> tuple[CatBoostRanker, dict[str, Any]]:
    """Fit a YetiRank ranker on ``Book-Rating`` with one query group per user.

    Args:
        train: Train model-input rows (any order; sorted by ``User-ID`` here).
        valid: Valid model-input rows, the early-stopping set.
        specs: Which columns are categorical ids and which numeric.
        config: The fit's settings; ``eval_metric`` is required.

    Returns:
        The fitted model (best iteration kept) and a training summary.
    """
    if config.eval_metric is None:
        raise ValueError("the CatBoost ranker needs an eval_metric, e.g. NDCG:top=10;type=Base")
    model = CatBoostRanker(loss_function="YetiRank", eval_metric=config.eval_metric,
                           **_common_options(config))
    specs = drop_fields(specs, config.exclude_fields)
    train_pool = _pool(sort_by_group(train), specs, RATING_COLUMN, GROUP_COLUMN)
    valid_pool = _pool(sort_by_group(valid), specs, RATING_COLUMN, GROUP_COLUMN)
    return model, _fit(model, train_pool, valid_pool, config, "catboost_ranker")


def fit_catboost_classifier(
    train: pd.DataFrame, valid: pd.DataFrame, specs: Sequence[FeatureSpec], config: CatBoostConfig
) -> tuple[CatBoostClassifier, dict[str, Any]]:
    """Fit a Logloss classifier on ``label``, stopping early on valid AUC.

    Args:
        train: Train model-input rows.
        valid: Valid model-input rows, the early-stopping set.
        specs: Which columns are categorical ids and which numeric.
        config: The fit's settings; an ``eval_metric`` is refused (it would be ignored).

    Returns:
        The fitted model (best iteration kept) and a training summary.
    """
    if config.eval_metric is not None:
        raise ValueError(f"the CatBoost classifier stops early on valid AUC; eval_metric "
                         f"{config.eval_metric!r} applies to the ranker only")
    model = CatBoostClassifier(loss_function="Logloss", eval_metric="AUC",
                               custom_metric=["Logloss"], **_common_options(config))
    specs = drop_fields(specs, config.exclude_fields)
    train_pool = _pool(train, specs, LABEL_COLUMN)
    valid_pool = _pool(valid, specs, LABEL_COLUMN)
    return model, _fit(model, train_pool, valid_pool, config, "catboost_classifier")


def predict_relevance(model: CatBoostRanker, rows: pd.DataFrame) -> np.ndarray:
    """The ranker's relevance per row, in the row order of ``rows``."""
    return model.predict(rows[model.feature_names_])


def predict_like_probability(model: CatBoostClassifier, rows: pd.DataFrame) -> np.ndarray:
    """The classifier's probability of ``label == 1`` per row, in the row order of ``rows``."""
    return model.predict_proba(rows[model.feature_names_])[:, 1]


def fit_catboost(
    train: pd.DataFrame, valid: pd.DataFrame, specs: Sequence[FeatureSpec], config: CatBoostConfig,
    *, ranker: bool,
) -> tuple[CatBoostRanker | CatBoostClassifier, dict[str, Any]]:
    """The ranker (``ranker=True``) or the classifier: one entry point for callers that try both."""
    fit = fit_catboost_ranker if ranker else fit_catboost_classifier
    return fit(train, valid, specs, config)


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
