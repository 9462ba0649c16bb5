"""Each reader's N best books from any model's scores, the reader's library left out.

Shapes: R readers, C catalogue books. Ties are broken by column index (the lower first), so a
ranking depends only on the scores, never on the batch or on the sort's internals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from book_recs.columns import BOOK_COLUMN, USER_COLUMN

from .interactions import Catalogue

if TYPE_CHECKING:
    from .models import TopNModel

BATCH_CELLS = 1 << 23
"""Scores held at once by default (readers per batch x C): 8M cells, ~32 MB per float32 copy;
the selection holds ~5 such arrays."""
NOT_RECOMMENDED = -1
"""The column of an empty place: fewer than N books could be recommended to that reader."""
RANK, SCORE = "rank", "score"


def exclude_library(scores: np.ndarray, libraries: sparse.csr_matrix) -> None:
    """Sets the scores of each reader's library books to ``-inf``, in place (R x C)."""
    rows = np.repeat(np.arange(libraries.shape[0]), np.diff(libraries.indptr))
    scores[rows, libraries.indices] = -np.inf


def best_columns(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` highest-scoring columns of each row, best first, ties by column index.

    A ``-inf`` score is never recommended: its place holds ``NOT_RECOMMENDED`` (and ``-inf``).

    Args:
        scores: R x C float, finite or ``-inf``.

    Returns:
        Columns R x n (int64) and their scores R x n (float32).

    >>> columns, best = best_columns(np.array([[1.0, 3.0, 3.0, -np.inf]]), 4)
    >>> columns.tolist(), best.tolist()
    ([[1, 2, 0, -1]], [[3.0, 3.0, 1.0, -inf]])
    """
    n_rows, n_columns = scores.shape
    k = min(n, n_columns)
    # The k-th largest score of each row; the columns above it all enter, then the columns equal
    # to it from the left until k are chosen (argpartition alone picks among ties arbitrarily).
    negated = -scores
    negated.partition(k - 1, axis=1)
    threshold = -negated[:, k - 1:k]
    del negated
    above = scores > threshold
    tied = scores == threshold
    still_needed = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1, dtype=np.int32) <= still_needed))
    columns = np.nonzero(chosen)[1].reshape(n_rows, k)
    chosen_scores = np.take_along_axis(scores, columns, axis=1)
    order = np.lexsort((columns, -chosen_scores), axis=1)
    columns = np.take_along_axis(columns, order, axis=1)
    chosen_scores = np.take_along_axis(chosen_scores, order, axis=1).astype(np.float32)
    columns[chosen_scores == -np.inf] = NOT_RECOMMENDED
    padding = n - k
    return (np.pad(columns, ((0, 0), (0, padding)), constant_values=NOT_RECOMMENDED),
            np.pad(chosen_scores, ((0, 0), (0, padding)), constant_values=-np.inf))


def top_n(model: TopNModel, libraries: sparse.csr_matrix, n: int,
          batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each reader's ``n`` best catalogue columns outside their library, best first.

    Args:
        model: a fitted model (``book_recs.topn.models``).
        libraries: R x C, the readers' libraries.
        n: books per reader.
        batch_size: readers scored at once (default: ``BATCH_CELLS`` // C); the answer does not
            depend on it, the memory does.

    Returns:
        Columns R x n (int64, ``NOT_RECOMMENDED`` in places no book can fill) and their scores
        R x n (float32).
    """
    n_readers, n_columns = libraries.shape
    batch_size = batch_size or max(1, BATCH_CELLS // max(n_columns, 1))
    columns = np.empty((n_readers, n), dtype=np.int64)
    scores = np.empty((n_readers, n), dtype=np.float32)
    for start in range(0, n_readers, batch_size):
        columns[start:start + batch_size], scores[start:start + batch_size] = best_outside(
            model, libraries[start:start + batch_size], n)
    return columns, scores


def best_outside(model: TopNModel, libraries: sparse.csr_matrix, n: int,
                 exclusions: sparse.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_columns` of the model's scores with each reader's library (and exclusions,
    any value > 0) at ``-inf``. A model with a ``best`` method of the same contract (ALS) gives
    the same answer scoring only the books it must."""
    if hasattr(model, "best"):
        return model.best(libraries, n, exclusions)
    scores = model.scores(libraries)
    exclude_library(scores, libraries)
    if exclusions is not None:
        exclude_library(scores, exclusions)
    return best_columns(scores, n)


def recommendation_table(readers: np.ndarray, catalogue: Catalogue, columns: np.ndarray,
                         scores: np.ndarray) -> pd.DataFrame:
    """The lists of :func:`top_n` as rows ``User-ID``, ``rank`` (1 = best), ``ISBN``, ``score``;
    empty places left out.

    Args:
        readers: the ``User-ID`` of each row of ``columns``.
    """
    n_readers, n = columns.shape
    filled = (columns != NOT_RECOMMENDED).ravel()
    return pd.DataFrame({
        USER_COLUMN: np.repeat(readers, n)[filled],
        RANK: np.tile(np.arange(1, n + 1), n_readers)[filled],
        BOOK_COLUMN: catalogue.isbns[columns.ravel()[filled]],
        SCORE: scores.ravel()[filled],
    })
