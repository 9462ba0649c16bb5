"""Readers' libraries as sparse rows over a catalogue of books.

A library is every book a reader holds: explicit ratings 1-10 and implicit rows (rating 0, the
reader holds the book). The interaction matrix keeps one value per held book, ``HELD`` or
``LIKED`` (rated above ``liked_above``); each model turns those two levels into the weights it
fits on (:func:`weigh`), so the same matrix serves every model and the weight of a like is a
model parameter that the grid on valid can tune.

Example:
    >>> frame = pd.DataFrame({"User-ID": [7, 7, 9], "ISBN": ["b", "a", "b"],
    ...                       "Book-Rating": [9, 0, 3]})
    >>> catalogue = Catalogue.from_interactions(frame)
    >>> catalogue.isbns.tolist()
    ['a', 'b']
    >>> rows = reader_matrix(frame, catalogue)
    >>> rows.readers.tolist(), rows.matrix.toarray().tolist()
    ([7, 9], [[1.0, 2.0], [0.0, 1.0]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from book_recs.columns import BOOK_COLUMN, RATING_COLUMN, USER_COLUMN

HELD, LIKED = 1.0, 2.0
"""The two values of an interaction matrix: a book the reader holds, one they rated highly."""
LIKED_ABOVE = 7
"""Default: a rating above 7 is a like (the project's ``positive_rating_threshold``)."""


class Catalogue:
    """The books a model can recommend: ISBN <-> column index, in sorted-ISBN order.

    Args:
        isbns: The catalogue's ISBNs (any order, duplicates allowed).

    >>> Catalogue(["c", "a", "c"]).columns_of(["a", "b", "c"]).tolist()
    [0, -1, 1]
    """

    def __init__(self, isbns: Sequence[str] | np.ndarray | pd.Series) -> None:
        self.isbns = np.sort(pd.unique(np.asarray(isbns, dtype=object)))
        self._index = pd.Index(self.isbns)

    @classmethod
    def from_interactions(cls, interactions: pd.DataFrame) -> Catalogue:
        """The books of the (train) interaction rows."""
        return cls(interactions[BOOK_COLUMN].to_numpy())

    def __len__(self) -> int:
        return len(self.isbns)

    def columns_of(self, isbns: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
        """The column of each ISBN, -1 for an ISBN outside the catalogue (int64)."""
        return self._index.get_indexer(np.asarray(isbns, dtype=object)).astype(np.int64)


@dataclass(frozen=True)
class ReaderMatrix:
    """Readers' libraries as rows of a sparse matrix.

    Attributes:
        matrix: readers x catalogue, float32, ``HELD`` or ``LIKED`` per held book.
        readers: the ``User-ID`` of each row.
        unknown_rows: interaction rows dropped because their ISBN is outside the catalogue.
    """

    matrix: sparse.csr_matrix
    readers: np.ndarray
    unknown_rows: int


def interaction_values(ratings: np.ndarray, liked_above: int = LIKED_ABOVE) -> np.ndarray:
    """``LIKED`` for a rating above ``liked_above``, else ``HELD`` (float32)."""
    return np.where(np.asarray(ratings) > liked_above, LIKED, HELD).astype(np.float32)


def reader_matrix(interactions: pd.DataFrame, catalogue: Catalogue,
                  readers: np.ndarray | None = None,
                  liked_above: int = LIKED_ABOVE) -> ReaderMatrix:
    """One row per reader, one column per catalogue book.

    Args:
        interactions: ``User-ID``, ``ISBN``, ``Book-Rating`` (0 = implicit, 1-10) rows.
        catalogue: the columns; rows with another ISBN are dropped and counted.
        readers: the ``User-ID`` of each row, in order (default: the sorted readers of
            ``interactions``); a reader without rows, or without a known book, gets an empty row.
        liked_above: ratings above it are ``LIKED``.

    Returns:
        The matrix; a reader holding a book twice counts it once, as a like if either row is.

    Raises:
        ValueError: if ``interactions`` has a reader that ``readers`` lacks.
    """
    user_ids = interactions[USER_COLUMN].to_numpy()
    if readers is None:
        readers = np.unique(user_ids)
    reader_index = pd.Index(readers)
    rows = reader_index.get_indexer(user_ids)
    if (rows < 0).any():
        raise ValueError("interactions hold readers missing from `readers`")
    columns = catalogue.columns_of(interactions[BOOK_COLUMN].to_numpy())
    known = columns >= 0
    values = interaction_values(interactions[RATING_COLUMN].to_numpy()[known], liked_above)
    matrix = _held_matrix(rows[known], columns[known], values, (len(reader_index), len(catalogue)))
    return ReaderMatrix(matrix, np.asarray(readers), int((~known).sum()))


def library_row(catalogue: Catalogue, isbns: Sequence[str], ratings: Sequence[int] | None = None,
                liked_above: int = LIKED_ABOVE) -> tuple[sparse.csr_matrix, list[str]]:
    """One served library as a 1 x catalogue row, and its ISBNs outside the catalogue.

    Args:
        isbns: the books the reader holds.
        ratings: their ratings 0-10 (0 = held, unrated); None: all held, unrated.

    >>> row, unknown = library_row(Catalogue(["a", "b"]), ["b", "z"], [10, 5])
    >>> row.toarray().tolist(), unknown
    ([[0.0, 2.0]], ['z'])
    """
    isbns = np.asarray(list(isbns), dtype=object)
    columns = catalogue.columns_of(isbns)
    known = columns >= 0
    values = interaction_values(np.zeros(len(isbns)) if ratings is None else np.asarray(ratings),
                                liked_above)[known]
    row = _held_matrix(np.zeros(known.sum(), dtype=np.int64), columns[known], values,
                       (1, len(catalogue)))
    return row, isbns[~known].tolist()


def _held_matrix(rows: np.ndarray, columns: np.ndarray, values: np.ndarray,
                 shape: tuple[int, int]) -> sparse.csr_matrix:
    """The (row, column) cells of ``values`` as a float32 matrix; a cell given twice keeps its
    largest value (a book held twice counts once, as a like if either row is)."""
    cells, places = np.unique(rows.astype(np.int64) * shape[1] + columns, return_inverse=True)
    best = np.zeros(len(cells), dtype=np.float32)
    np.maximum.at(best, places, values)
    return sparse.csr_matrix((best, (cells // shape[1], cells % shape[1])), shape=shape,
                             dtype=np.float32)


def weigh(interactions: sparse.csr_matrix, liked_weight: float) -> sparse.csr_matrix:
    """The matrix a model fits on: 1 per held book, ``liked_weight`` per liked one (float32).

    >>> weigh(sparse.csr_matrix([[HELD, LIKED, 0.0]]), 3.0).toarray().tolist()
    [[1.0, 3.0, 0.0]]
    """
    weighted = interactions.astype(np.float32, copy=True)
    weighted.data = np.where(weighted.data == LIKED, liked_weight, 1.0).astype(np.float32)
    return weighted
