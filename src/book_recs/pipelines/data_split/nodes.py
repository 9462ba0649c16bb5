"""Split users (not rows) into train / valid / test, so test users are cold-start."""

from __future__ import annotations

import logging
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from book_recs.columns import USER_COLUMN
from book_recs.pipelines.data_processing.nodes import ORDER_COLUMN

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
SPLIT_COLUMN = "split"


def assign_users_to_splits(ratings: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Assign each user to one split at random, with the shares and seed from parameters.

    The sorted unique user ids are shuffled by a seeded generator, so the split depends only on
    the seed and the set of users, never on row order or on the engine. One id per user: a
    small, model-shaped table even for millions of users, hence pandas.

    Args:
        ratings: The cleaned ratings' ``User-ID`` column (the catalog loads only that column).
        params: ``seed`` and ``shares`` (``{train, valid, test}``, summing to 1).

    Returns:
        ``User-ID`` and ``split``, one row per user.

    Raises:
        ValueError: The shares are not exactly train/valid/test, are negative or do not sum to 1.
    """
    shares = params["shares"]
    if (set(shares) != set(SPLITS) or min(shares.values()) < 0
            or not np.isclose(sum(shares.values()), 1.0)):
        raise ValueError(f"data_split.shares must give {SPLITS} summing to 1, got {shares}")
    users = np.sort(ratings[USER_COLUMN].unique())
    np.random.default_rng(params["seed"]).shuffle(users)
    bounds = np.round(np.cumsum([shares[s] for s in SPLITS]) * len(users)).astype(int)
    groups = np.split(users, bounds[:-1])
    for split, members in zip(SPLITS, groups, strict=True):
        logger.info("split %-5s %7d users", split, len(members))
    return pd.DataFrame({
        USER_COLUMN: np.concatenate(groups).astype(np.int64),
        SPLIT_COLUMN: np.repeat(SPLITS, [len(g) for g in groups]),
    })


def split_ratings(ratings: ir.Table, user_splits: ir.Table) -> tuple[ir.Table, ir.Table, ir.Table]:
    """The rows of each split's users, in the cleaned table's row order.

    Args:
        ratings: Cleaned ratings (with ``row_order``).
        user_splits: ``User-ID`` -> ``split`` (``assign_users_to_splits``).

    Returns:
        The train, valid and test rows (the input's columns).
    """
    with_split = ratings.join(user_splits, USER_COLUMN)
    return tuple(
        with_split.filter(with_split[SPLIT_COLUMN] == split).select(*ratings.columns)
        .order_by(ORDER_COLUMN)
        for split in SPLITS
    )
