"""Split users (not rows) into train / valid / test, so test users are cold-start."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def split_users(
    ratings: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Assign each user to one split at random, with the shares and seed from parameters.

    The sorted unique user ids are shuffled by a seeded generator, so the split depends only on
    the seed and the set of users, never on row order.

    Args:
        ratings: Cleaned ratings with a ``User-ID`` column.
        params: ``seed`` and ``shares`` (``{train, valid, test}``, summing to 1).

    Returns:
        The train, valid and test rows (the input's columns, index reset).

    Raises:
        ValueError: The shares are not exactly train/valid/test, are negative or do not sum to 1.
    """
    shares = params["shares"]
    if (set(shares) != set(SPLITS) or min(shares.values()) < 0
            or not np.isclose(sum(shares.values()), 1.0)):
        raise ValueError(f"data_split.shares must give {SPLITS} summing to 1, got {shares}")
    users = np.sort(ratings["User-ID"].unique())
    np.random.default_rng(params["seed"]).shuffle(users)
    bounds = np.round(np.cumsum([shares[s] for s in SPLITS]) * len(users)).astype(int)
    groups = np.split(users, bounds[:-1])
    parts = []
    for split, members in zip(SPLITS, groups, strict=True):
        part = ratings[ratings["User-ID"].isin(members)].reset_index(drop=True)
        logger.info("split %-5s %7d users %8d rows  positive rate %.4f", split, len(members),
                    len(part), part["label"].mean() if len(part) else np.nan)
        parts.append(part)
    return tuple(parts)
