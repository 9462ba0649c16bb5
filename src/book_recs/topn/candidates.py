"""The candidate stage of a two-stage recommender: one anchor picks each reader's K books from
their library, every anchor says what it thinks of them (no Kedro here).

What the stage tells the re-ranker about a candidate (``features``, (R, K, 1 + A) float32): the
log of its rank in the picking anchor's list over the log of K (0 for the best, 1 for the
K-th), then each anchor's score of it standardised over the reader's K candidates (0 when they
are all equal; a book outside an anchor's catalogue, ``-inf``, takes the lowest finite score of
the reader's candidates). The anchors disagree where each is weak: the re-ranker learns whom to
trust for which reader and book.

Shapes: R readers, C catalogue books, K candidates, A anchors.

Example:
    >>> from scipy import sparse
    >>> from book_recs.topn import HELD, LIKED, Popularity
    >>> train = sparse.csr_matrix([[HELD, LIKED, 0.0], [HELD, 0.0, LIKED], [0.0, LIKED, 0.0]])
    >>> stage = CandidateStage("held", {"held": Popularity(count="held").fit(train),
    ...                                 "liked": Popularity(count="liked").fit(train)}, k=2)
    >>> columns, features = stage.candidates(sparse.csr_matrix([[0.0, 0.0, HELD]]))
    >>> columns.tolist(), stage.feature_names
    ([[0, 1]], ['candidate_rank', 'held_score', 'liked_score'])
    >>> features[0].round(2).tolist()
    [[0.0, 0.0, -1.0], [1.0, 0.0, 1.0]]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .models import TopNModel
from .ranking import NOT_RECOMMENDED, best_outside

READERS_PER_BATCH = 64
"""Readers scored at once: bounds A x (readers x C) scores in memory."""


def standardised(values: np.ndarray) -> np.ndarray:
    """Each row (R, K) minus its mean over its spread (0 for a constant row); ``-inf`` first
    takes the row's lowest finite value, NaN (an empty place) stays NaN.

    >>> standardised(np.array([[3.0, 1.0, -np.inf, np.nan]])).round(3).tolist()
    [[1.414, -0.707, -0.707, nan]]
    """
    finite = np.where(np.isfinite(values), values, np.nan)
    lowest = np.nanmin(np.where(np.isnan(finite), np.inf, finite), axis=1, keepdims=True)
    filled = np.where(np.isneginf(values), lowest, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(filled, axis=1, keepdims=True)
        spread = np.nanstd(filled, axis=1, keepdims=True)
        return np.where(spread > 0, (filled - mean) / spread, np.where(np.isnan(filled), np.nan,
                                                                        0.0))


@dataclass(frozen=True)
class CandidateStage:
    """Candidates from ``anchors[generator]``, described by every anchor.

    Attributes:
        generator: The anchor that picks the candidates (a key of ``anchors``).
        anchors: Fitted ``book_recs.topn`` models, by name.
        k: Candidates per reader.
    """

    generator: str
    anchors: dict[str, TopNModel]
    k: int

    def __post_init__(self) -> None:
        if self.generator not in self.anchors:
            raise ValueError(f"the generator {self.generator!r} is not among the anchors "
                             f"{sorted(self.anchors)}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")

    @property
    def feature_names(self) -> list[str]:
        return ["candidate_rank", *(f"{name}_score" for name in self.anchors)]

    def with_k(self, k: int) -> CandidateStage:
        return CandidateStage(self.generator, self.anchors, k)

    def refitted(self, interactions: sparse.csr_matrix) -> CandidateStage:
        """The same anchors, hyper-parameters and K, each fitted again on ``interactions``."""
        return CandidateStage(self.generator, {name: copy.deepcopy(model).fit(interactions)
                                               for name, model in self.anchors.items()}, self.k)

    def candidates(self, libraries: sparse.csr_matrix, exclusions: sparse.csr_matrix | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Each reader's K best columns by the generator, outside the library (and the
        exclusions), and their ``features`` (see the module docstring).

        Returns:
            Columns (R, K) int64, ``NOT_RECOMMENDED`` in places no book fills, and features
            (R, K, 1 + A) float32, 0 in those places.
        """
        n = libraries.shape[0]
        columns = np.full((n, self.k), NOT_RECOMMENDED, dtype=np.int64)
        features = np.zeros((n, self.k, len(self.feature_names)), dtype=np.float32)
        for start in range(0, n, READERS_PER_BATCH):
            batch = slice(start, start + READERS_PER_BATCH)
            columns[batch], features[batch] = self._batch(
                libraries[batch], None if exclusions is None else exclusions[batch])
        return columns, features

    def _batch(self, libraries: sparse.csr_matrix,
               exclusions: sparse.csr_matrix | None) -> tuple[np.ndarray, np.ndarray]:
        columns, best = best_outside(self.anchors[self.generator], libraries, self.k, exclusions)
        filled = columns != NOT_RECOMMENDED
        safe = np.where(filled, columns, 0)
        rank = np.log(np.arange(1, self.k + 1)) / np.log(max(self.k, 2))
        described = [np.broadcast_to(rank, columns.shape)]
        for name, model in self.anchors.items():
            chosen = (best if name == self.generator else
                      np.take_along_axis(model.scores(libraries), safe, axis=1)).astype(np.float64)
            described.append(standardised(np.where(filled, chosen, np.nan)))
        features = np.nan_to_num(np.stack(described, axis=-1), nan=0.0).astype(np.float32)
        features[~filled] = 0.0
        return columns, features
