"""The scores table every model writes, and the random baseline's scores."""

from __future__ import annotations

import numpy as np
import pandas as pd

from book_recs.columns import KEY_COLUMNS


def scores_frame(
    rows: pd.DataFrame, score: np.ndarray, probability: np.ndarray | None = None
) -> pd.DataFrame:
    """Build a scores table: the key columns of ``rows``, ``score`` and, if given, ``probability``.

    One output row per input row, in the input order (the index is reset).

    Example:
        >>> rows = pd.DataFrame({"User-ID": [1], "ISBN": ["a"], "Book-Rating": [9], "label": [1]})
        >>> list(scores_frame(rows, np.array([0.3])).columns)
        ['User-ID', 'ISBN', 'Book-Rating', 'label', 'score']
    """
    if len(score) != len(rows):
        raise ValueError(f"{len(score)} scores for {len(rows)} rows")
    scores = rows.loc[:, list(KEY_COLUMNS)].reset_index(drop=True)
    scores["score"] = np.asarray(score, dtype="float64")
    if probability is not None:
        if len(probability) != len(rows):
            raise ValueError(f"{len(probability)} probabilities for {len(rows)} rows")
        scores["probability"] = np.asarray(probability, dtype="float64")
    return scores


def random_scores(n_rows: int, seed: int) -> np.ndarray:
    """Uniform [0, 1) scores from a generator seeded with ``seed``: the no-skill ranking."""
    return np.random.default_rng(seed).random(n_rows)
