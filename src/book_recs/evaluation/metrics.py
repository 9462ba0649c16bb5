"""Ranking and classification metrics over score tables, computed per user without Python loops.

A score table has one row per (user, book): ``User-ID``, ``Book-Rating`` (1..10), ``label``
(rating > 7), ``score`` (higher = more relevant) and optionally ``probability``.

Tie rule (all per-user metrics): rows with equal scores of one user share the average of the
positions they occupy, as sklearn's ``ndcg_score(ignore_ties=False)`` does. For nDCG@K and
Recall@K a tie group straddling position K counts with the expected value over random orders.
nDCG and nDCG@K use the raw ratings as gains (sklearn semantics); Recall@K counts ``label`` books.

Per-user AUC is summarised under FuxiCTR's two names (``fuxictr/metrics.py``), both over the users
with both classes: ``gauc`` (its ``gAUC``, the DIN paper's group AUC) weighs each user's AUC by
the user's rows, ``avgauc`` (its ``avgAUC``) is their plain mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN

SCORE, PROBABILITY = "score", "probability"
LOGLOSS_EPS = 1e-15
MIN_BOOKS_FOR_NDCG = 2


def _group_starts(keys: list[np.ndarray]) -> np.ndarray:
    """Boolean mask: True where a row starts a new run of equal ``keys`` (rows already sorted)."""
    starts = np.zeros(len(keys[0]), dtype=bool)
    starts[:1] = True
    for key in keys:
        starts[1:] |= key[1:] != key[:-1]
    return starts


def _group_mean(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each row's value replaced by the mean over its run (runs given by ``starts``)."""
    group = np.cumsum(starts) - 1
    sums = np.bincount(group, weights=values)
    sizes = np.bincount(group)
    return (sums / sizes)[group]


class RankedScores:
    """A score table sorted by user, then score descending, with per-row positions and tie groups.

    Attributes:
        users: sorted distinct user ids (index of every per-user array).
        user_code: per sorted row, the position of its user in ``users``.
        order: the row order of the original table that sorts it.
        position: per sorted row, its 0-based rank within its user.
    """

    def __init__(self, scores: pd.DataFrame) -> None:
        user_ids = scores[USER_COLUMN].to_numpy()
        score = scores[SCORE].to_numpy(dtype=float)
        self.order = np.lexsort((-score, user_ids))
        self.users, self.user_code = np.unique(user_ids[self.order], return_inverse=True)
        self.score = score[self.order]
        self.rating = scores[RATING_COLUMN].to_numpy(dtype=float)[self.order]
        self.label = scores[LABEL_COLUMN].to_numpy(dtype=float)[self.order]
        self.n_users = len(self.users)
        self.n_rows = np.bincount(self.user_code, minlength=self.n_users)
        first_row = np.concatenate([[0], np.cumsum(self.n_rows)[:-1]])
        self.position = np.arange(len(self.order)) - first_row[self.user_code]
        self.tie_starts = _group_starts([self.user_code, self.score])

    def per_user_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of a per-row array within each user."""
        return np.bincount(self.user_code, weights=values, minlength=self.n_users)

    def tie_averaged(self, by_position: np.ndarray) -> np.ndarray:
        """A function of the rank, averaged over each tie group (sklearn's tie rule)."""
        return _group_mean(by_position, self.tie_starts)


def _discount(position: np.ndarray, k: int | None) -> np.ndarray:
    discount = 1.0 / np.log2(position + 2.0)
    return discount if k is None else np.where(position < k, discount, 0.0)


def _ideal_dcg(ranked: RankedScores, k: int | None) -> np.ndarray:
    """Per-user DCG of the ratings sorted descending (ties in the truth do not change it)."""
    order = np.lexsort((-ranked.rating, ranked.user_code))
    return ranked.per_user_sum(ranked.rating[order] * _discount(ranked.position, k))


def per_user_ndcg(ranked: RankedScores, k: int | None = None) -> np.ndarray:
    """Per-user nDCG (raw ratings as gains); NaN for users with fewer than 2 rated books.

    Equals ``sklearn.metrics.ndcg_score([ratings], [scores], k=k)`` for every user.
    """
    dcg = ranked.per_user_sum(ranked.rating * ranked.tie_averaged(_discount(ranked.position, k)))
    ndcg = dcg / _ideal_dcg(ranked, k)
    return np.where(ranked.n_rows >= MIN_BOOKS_FOR_NDCG, ndcg, np.nan)


def per_user_recall(ranked: RankedScores, k: int) -> np.ndarray:
    """Per-user share of label-1 books found in the top K; NaN for users with no label-1 book."""
    in_top_k = ranked.tie_averaged((ranked.position < k).astype(float))
    positives = ranked.per_user_sum(ranked.label)
    found = ranked.per_user_sum(ranked.label * in_top_k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positives > 0, found / positives, np.nan)


def per_user_auc(ranked: RankedScores) -> np.ndarray:
    """Per-user ROC AUC (Mann-Whitney with mid-ranks); NaN for users with a single class."""
    # Ranks ascending by score: n_rows - position, averaged over ties (mid-ranks).
    ascending_rank = ranked.tie_averaged(
        (ranked.n_rows[ranked.user_code] - ranked.position).astype(float))
    positives = ranked.per_user_sum(ranked.label)
    negatives = ranked.n_rows - positives
    rank_sum = ranked.per_user_sum(ranked.label * ascending_rank)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def per_user_logloss_sum(ranked: RankedScores, probability: np.ndarray) -> np.ndarray:
    """Per-user sum of binary cross-entropy (``probability`` in the ranked row order)."""
    clipped = np.clip(probability, LOGLOSS_EPS, 1 - LOGLOSS_EPS)
    loss = -(ranked.label * np.log(clipped) + (1 - ranked.label) * np.log1p(-clipped))
    return ranked.per_user_sum(loss)


def per_user_metrics(scores: pd.DataFrame, ks: list[int]) -> pd.DataFrame:
    """Every per-user metric of one score table, indexed by ``User-ID``.

    Columns: ``n_rows``, ``n_positive``, ``ndcg``, ``ndcg@K`` and ``recall@K`` for K in ``ks``,
    ``auc`` (the user's AUC: weighted by ``n_rows`` its mean is gAUC, unweighted avgAUC) and,
    with probabilities, ``logloss_sum``.
    NaN marks a metric undefined for that user.
    """
    ranked = RankedScores(scores)
    columns = {"n_rows": ranked.n_rows, "n_positive": ranked.per_user_sum(ranked.label),
               "ndcg": per_user_ndcg(ranked)}
    for k in ks:
        columns[f"ndcg@{k}"] = per_user_ndcg(ranked, k)
    for k in ks:
        columns[f"recall@{k}"] = per_user_recall(ranked, k)
    columns["auc"] = per_user_auc(ranked)
    if PROBABILITY in scores:
        probability = scores[PROBABILITY].to_numpy(dtype=float)[ranked.order]
        columns["logloss_sum"] = per_user_logloss_sum(ranked, probability)
    return pd.DataFrame(columns, index=pd.Index(ranked.users, name=USER_COLUMN))


def mean_over_users(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean of a per-user metric over the users where it is defined (not NaN), each user weighted
    by ``weights`` (default 1); NaN when no user has it."""
    defined = ~np.isnan(values)
    if not defined.any():
        return float("nan")
    if weights is None:
        return float(values[defined].mean())
    return float((values[defined] * weights[defined]).sum() / weights[defined].sum())


def _user_aucs(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> RankedScores:
    # A score table as the metrics expect it; per-user AUC never reads the rating column.
    return RankedScores(pd.DataFrame({USER_COLUMN: users, RATING_COLUMN: labels,
                                      LABEL_COLUMN: labels, SCORE: scores}))


def group_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """gAUC (FuxiCTR's ``gAUC``): per-user AUC weighted by the user's rows, over the users with
    both classes; NaN when there are none.

    >>> group_auc(np.array([1, 1, 1, 1, 2, 2]), np.array([1, 0, 0, 0, 1, 0]),
    ...           np.array([0.9, 0.1, 0.2, 0.3, 0.1, 0.9]))
    0.6666666666666666
    """
    ranked = _user_aucs(users, labels, scores)
    return mean_over_users(per_user_auc(ranked), ranked.n_rows.astype(float))


def average_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """avgAUC (FuxiCTR's ``avgAUC``): the plain mean of the per-user AUCs over the users with
    both classes; NaN when there are none.

    >>> average_auc(np.array([1, 1, 1, 1, 2, 2]), np.array([1, 0, 0, 0, 1, 0]),
    ...             np.array([0.9, 0.1, 0.2, 0.3, 0.1, 0.9]))
    0.5
    """
    return mean_over_users(per_user_auc(_user_aucs(users, labels, scores)))


def weighted_auc(score: np.ndarray, label: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of ``weights`` (shape R x n), ties counted one half.

    Equals ``sklearn.metrics.roc_auc_score(label, score, sample_weight=w)`` for each weight row.
    """
    order = np.argsort(score, kind="stable")
    starts = _group_starts([score[order]])
    weights = np.atleast_2d(weights)[:, order]
    positive = label[order].astype(bool)
    boundaries = np.flatnonzero(starts)
    positive_weight = np.add.reduceat(np.where(positive, weights, 0.0), boundaries, axis=1)
    negative_weight = np.add.reduceat(np.where(positive, 0.0, weights), boundaries, axis=1)
    negatives_below = np.cumsum(negative_weight, axis=1) - negative_weight
    wins = (positive_weight * (negatives_below + 0.5 * negative_weight)).sum(axis=1)
    return wins / (positive_weight.sum(axis=1) * negative_weight.sum(axis=1))
