"""Features of (reader, candidate book) pairs for a re-ranker that reads the reader's library
(no Kedro here).

A pair row holds, on the reader's side, the article's user fields (``Age``, ``state``,
``country``, as the feature stage builds them), ``library`` (a sequence field: the ids of up to
``max_library`` of the reader's books, the liked ones first) and ``library_size`` (the log of
the library's size over the log of the largest train library, at most 1); on the candidate's
side, the article's item fields (author, year and publisher ids, title components, item
statistics), ``book`` (the candidate's id, in the library's vocabulary) and what the candidate
stage says of it (``book_recs.topn.candidates``: its rank, each anchor's score).

Ids: a catalogue book held by at least ``min_count`` train readers has an id of its own (2..),
any other the out-of-vocabulary id 1; 0 pads a sequence.

Shapes: R readers, C catalogue books, N pair rows, L ``max_library``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import torch
from scipy import sparse
from torch import Tensor

from book_recs.columns import BOOK_COLUMN
from book_recs.features.model_input import ORDER_COLUMN, FittedFeatures
from book_recs.models.feature_spec import PADDING_ID, FeatureSpec, field_order
from book_recs.topn import Catalogue

LIBRARY_FIELD, LIBRARY_SIZE, BOOK_FIELD = "library", "library_size", "book"
LIBRARY_OOV_ID = PADDING_ID + 1


def library_vocabulary(train_counts: np.ndarray, min_count: int) -> np.ndarray:
    """The id of every catalogue book (C,): 2, 3, ... in catalogue order for the books held by
    at least ``min_count`` train readers, ``LIBRARY_OOV_ID`` for the others.

    >>> library_vocabulary(np.array([5, 0, 3, 1]), min_count=3).tolist()
    [2, 1, 3, 1]
    """
    known = train_counts >= min_count
    ids = np.full(len(train_counts), LIBRARY_OOV_ID, dtype=np.int64)
    ids[known] = np.arange(LIBRARY_OOV_ID + 1, LIBRARY_OOV_ID + 1 + known.sum())
    return ids


def library_sequences(libraries: sparse.csr_matrix, book_ids: np.ndarray,
                      max_library: int) -> np.ndarray:
    """Each library as ids (R, L), padded with 0: its books with the larger matrix values
    (liked) first, then by catalogue column, at most ``max_library`` of them.

    >>> rows = sparse.csr_matrix(np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0]], np.float32))
    >>> library_sequences(rows, np.array([2, 3, 4]), max_library=2).tolist()
    [[3, 2], [0, 0]]
    """
    rows = np.repeat(np.arange(libraries.shape[0]), np.diff(libraries.indptr))
    order = np.lexsort((libraries.indices, -libraries.data, rows))
    rows, columns = rows[order], libraries.indices[order]
    position = np.arange(len(rows)) - libraries.indptr[rows]
    kept = position < max_library
    sequences = np.full((libraries.shape[0], max_library), PADDING_ID, dtype=np.int64)
    sequences[rows[kept], position[kept]] = book_ids[columns[kept]]
    return sequences


@dataclass(frozen=True)
class PairFeatures:
    """How (reader, candidate) pairs become a re-ranker's tensors.

    Attributes:
        user_numeric, user_categorical: The user-side columns of the feature stage's reader
            table (``Recommender.user_features``), in order.
        item_numeric_names, item_categorical_names: The item-side columns of ``item_numeric``
            and ``item_categorical``.
        item_numeric: (C, Fn) float32, the feature stage's item side of every catalogue book.
        item_categorical: (C, Fc) int64, likewise.
        book_ids: (C,) the library vocabulary (``library_vocabulary``).
        max_library: L.
        largest_library: The largest train library (``library_size`` scale).
        vocab_sizes: Ids of each categorical field, the OOV id 0 included.
        candidate_names: The candidate stage's features (``CandidateStage.feature_names``).
    """

    user_numeric: tuple[str, ...]
    user_categorical: tuple[str, ...]
    item_numeric_names: tuple[str, ...]
    item_categorical_names: tuple[str, ...]
    item_numeric: np.ndarray
    item_categorical: np.ndarray
    book_ids: np.ndarray
    max_library: int
    largest_library: int
    vocab_sizes: dict[str, int]
    candidate_names: tuple[str, ...]

    @classmethod
    def build(cls, fitted: FittedFeatures, catalogue: Catalogue, train: sparse.csr_matrix,
              books: ir.Table, min_book_count: int, max_library: int,
              candidate_names: list[str], exclude_fields: Sequence[str] = ()) -> PairFeatures:
        """The feature stage's item side of every catalogue book, computed once on the engine
        of ``books`` (``ISBN`` and the book fields), its user fields, the library vocabulary of
        the train readers' matrix ``train`` (R, C), and the candidate stage's features; item
        columns matching a glob pattern of ``exclude_fields`` are left out."""
        config = fitted.config
        rows = ibis.memtable({BOOK_COLUMN: catalogue.isbns.astype(str),
                              ORDER_COLUMN: np.arange(len(catalogue), dtype=np.int64)})
        item_side = fitted.build(rows.join(books, BOOK_COLUMN), side="item").execute()
        if len(item_side) != len(catalogue):
            raise ValueError(f"{len(item_side)} of {len(catalogue)} catalogue books have fields")
        item_categorical = [c for c in config.categorical_fields if config.context(c) == "item"]
        item_numeric = [c for c in item_side.columns
                        if c != BOOK_COLUMN and c not in config.categorical_fields
                        and not any(fnmatch.fnmatchcase(c, p) for p in exclude_fields)]
        vocabularies = fitted.vocabularies
        sizes = vocabularies.group_by("field").aggregate(ids=vocabularies["id"].max() + 1).execute()
        return cls(
            user_numeric=tuple(config.numeric_column(c) for c in config.numeric_fields
                               if config.context(c) == "user"),
            user_categorical=tuple(c for c in config.categorical_fields
                                   if config.context(c) == "user"),
            item_numeric_names=tuple(item_numeric), item_categorical_names=tuple(item_categorical),
            item_numeric=item_side[item_numeric].to_numpy(np.float32),
            item_categorical=item_side[item_categorical].to_numpy(np.int64),
            book_ids=library_vocabulary(np.bincount(train.indices, minlength=train.shape[1]),
                                        min_book_count),
            max_library=max_library, largest_library=int(np.diff(train.indptr).max(initial=1)),
            vocab_sizes={str(f): int(n) for f, n in zip(sizes["field"], sizes["ids"],
                                                        strict=True)},
            candidate_names=tuple(candidate_names))

    @property
    def specs(self) -> list[FeatureSpec]:
        """The fields, in the order of every tensor's columns (``field_order``)."""
        user = {*self.user_numeric, *self.user_categorical, LIBRARY_SIZE, LIBRARY_FIELD}
        vocabularies = {**self.vocab_sizes, BOOK_FIELD: int(self.book_ids.max()) + 1,
                        LIBRARY_FIELD: int(self.book_ids.max()) + 1}
        numeric = [*self.user_numeric, LIBRARY_SIZE, *self.item_numeric_names,
                   *self.candidate_names]
        categorical = [*self.user_categorical, *self.item_categorical_names, BOOK_FIELD]
        return field_order(
            [FeatureSpec(name, "numeric", context="user" if name in user else "item")
             for name in numeric]
            + [FeatureSpec(name, kind, vocab_size=vocabularies[name],
                           context="user" if name in user else "item")
               for kind, names in (("categorical", categorical), ("sequence", [LIBRARY_FIELD]))
               for name in names])

    def _reader_side(self, users: pd.DataFrame,
                     libraries: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R readers' numeric (R, user numeric + 1) and categorical columns and their library
        sequences (R, L)."""
        sizes = np.diff(libraries.indptr).astype(np.float32)
        library_size = np.minimum(np.log1p(sizes) / np.log1p(max(self.largest_library, 1)), 1.0)
        # Column by column: selecting a table's columns copies its blocks (0.3 ms a request).
        numeric = np.column_stack([*(users[name].to_numpy(np.float32)
                                     for name in self.user_numeric), library_size])
        categorical = np.empty((len(users), len(self.user_categorical)), dtype=np.int64)
        for index, name in enumerate(self.user_categorical):
            categorical[:, index] = users[name].to_numpy(np.int64)
        return numeric, categorical, library_sequences(libraries, self.book_ids, self.max_library)

    def _candidate_side(self, columns: np.ndarray, described: np.ndarray,
                        item_numeric: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """N candidates' numeric and categorical columns."""
        numeric = np.concatenate([
            self.item_numeric[columns] if item_numeric is None else item_numeric, described],
            axis=1)
        return numeric, np.concatenate([self.item_categorical[columns],
                                        self.book_ids[columns][:, None]], axis=1)

    @staticmethod
    def _as_tensors(numeric: np.ndarray, categorical: np.ndarray,
                    sequences: np.ndarray) -> dict[str, Tensor]:
        return {"numeric": torch.from_numpy(np.ascontiguousarray(numeric, dtype=np.float32)),
                "categorical": torch.from_numpy(np.ascontiguousarray(categorical)),
                LIBRARY_FIELD: torch.from_numpy(np.ascontiguousarray(sequences))}

    def tensors(self, users: pd.DataFrame, libraries: sparse.csr_matrix, readers: np.ndarray,
                columns: np.ndarray, described: np.ndarray,
                item_numeric: np.ndarray | None = None) -> dict[str, Tensor]:
        """The tensors of N pair rows.

        Args:
            users: R readers' user-side columns (``user_numeric``, ``user_categorical``).
            libraries: (R, C) their libraries.
            readers: (N,) each row's reader (a row of ``users`` and ``libraries``).
            columns: (N,) each row's candidate (a catalogue column).
            described: (N, len(candidate_names)) what the candidate stage says of each row.
            item_numeric: (N, Fn) the rows' numeric item side, when it is not the catalogue's
                (out-of-fold statistics of train readers); default: ``item_numeric[columns]``.
        """
        reader_numeric, reader_categorical, sequences = self._reader_side(users, libraries)
        numeric, categorical = self._candidate_side(columns, described, item_numeric)
        return self._as_tensors(
            np.concatenate([reader_numeric[readers], numeric], axis=1),
            np.concatenate([reader_categorical[readers], categorical], axis=1), sequences[readers])

    def reader_tensors(self, users: pd.DataFrame, libraries: sparse.csr_matrix) -> dict[str, Tensor]:
        """One row per reader for ``FinalMLP.pair_logits``: its reader fields, the candidate
        fields 0 (not read there)."""
        numeric, categorical, sequences = self._reader_side(users, libraries)
        width = len(self.item_numeric_names) + len(self.candidate_names)
        return self._as_tensors(
            np.pad(numeric, ((0, 0), (0, width))),
            np.pad(categorical, ((0, 0), (0, len(self.item_categorical_names) + 1))), sequences)

    def candidate_tensors(self, columns: np.ndarray, described: np.ndarray) -> dict[str, Tensor]:
        """One row per candidate for ``FinalMLP.item_side``: its candidate fields, the reader
        fields 0 and an empty library (not read there)."""
        numeric, categorical = self._candidate_side(columns, described)
        return self._as_tensors(
            np.pad(numeric, ((0, 0), (len(self.user_numeric) + 1, 0))),
            np.pad(categorical, ((0, 0), (len(self.user_categorical), 0))),
            np.full((len(columns), 1), PADDING_ID, dtype=np.int64))
