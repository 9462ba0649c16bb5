"""The anchors of the reader's-library protocol: Popularity, item-kNN, EASE and ALS.

Every model is fitted on train readers only and scores readers it never saw from their library
alone (strong generalisation), which is also how a served request is answered: one library in,
one row of scores out, no refit. Shapes: R readers, C catalogue books, F factors.

- ``fit(interactions)``: ``interactions`` is R x C (``book_recs.topn.interactions``: ``HELD`` or
  ``LIKED`` per held book); returns the model.
- ``scores(libraries)``: R x C float32 for the libraries' readers, higher is better; ``-inf``
  marks a book the model never recommends. Library books are scored like any other: excluding
  them is :func:`book_recs.topn.ranking.top_n`'s job.

Each model's constructor takes its parameters by keyword only, as a Kedro parameters file
writes them.
"""

from __future__ import annotations

import warnings
from typing import Literal, Protocol, Self

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender
from implicit.utils import ParameterWarning
from scipy import sparse
from scipy.linalg import lapack

from book_recs.devices import one_blas_thread

from .interactions import LIKED, weigh
from .ranking import NOT_RECOMMENDED, best_columns

BOOKS_PER_PRODUCT = 4096
"""Books per ALS product (one reader against this many book factors, longest factors first): a
fixed shape, so a score has the same bits whoever is scored with it and however many products
``ALS.best`` computes before it stops."""
BOUND_SLACK = 1e-4
"""Relative slack on the Cauchy-Schwarz bound |u.v| <= |u| |v|: float32 rounding of a
128-term dot product moves it by less than 1e-5 of |u| |v|."""
GRAM_BLOCK_COLUMNS = 2048  # columns of X^T X built at once: C x 2048 float32 at most at a time
EASE_MAX_BOOKS = 23_170
"""The largest EASE catalogue: B of 2 GiB float32. LAPACK's Cholesky through scipy's OpenBLAS
segfaulted on this project's machines at 29,105 books (3.4 GB) and ran at 22,886 (1.95 GiB)."""


class TopNModel(Protocol):
    """What every anchor offers: fit on train readers, score new readers from their library."""

    def fit(self, interactions: sparse.csr_matrix) -> Self: ...

    def scores(self, libraries: sparse.csr_matrix) -> np.ndarray: ...


def _column_counts(interactions: sparse.csr_matrix, only_liked: bool = False) -> np.ndarray:
    """Per column, the readers holding the book (or liking it): C int64."""
    columns = interactions.indices[interactions.data == LIKED] if only_liked else interactions.indices
    return np.bincount(columns, minlength=interactions.shape[1])


class Popularity:
    """The same list for everyone: books by how many train readers hold (or like) them.

    Args:
        count: ``"held"`` (every held book counts) or ``"liked"`` (only books rated above 7).

    >>> from book_recs.topn.interactions import HELD
    >>> train = sparse.csr_matrix([[HELD, LIKED, 0.0], [HELD, 0.0, LIKED]])
    >>> Popularity(count="liked").fit(train).scores(train[:1]).tolist()
    [[0.0, 1.0, 1.0]]
    """

    def __init__(self, *, count: Literal["held", "liked"] = "held") -> None:
        if count not in ("held", "liked"):
            raise ValueError(f"count must be 'held' or 'liked', got {count!r}")
        self.count = count
        self.popularity: np.ndarray | None = None

    def fit(self, interactions: sparse.csr_matrix) -> Self:
        self.popularity = _column_counts(interactions, self.count == "liked").astype(np.float32)
        return self

    def scores(self, libraries: sparse.csr_matrix) -> np.ndarray:
        return np.tile(self.popularity, (libraries.shape[0], 1))


ITEM_SIMILARITIES = {"cosine": CosineRecommender, "bm25": BM25Recommender,
                     "tfidf": TFIDFRecommender}


class ItemKNN:
    """Item-based nearest neighbours: a reader's score for a book is the sum of its similarities
    to the reader's library books, over the ``neighbours`` most similar books of each.

    Args:
        similarity: ``"cosine"``, ``"bm25"`` or ``"tfidf"`` (implicit's recommenders).
        neighbours: similar books kept per book (besides itself).
        liked_weight: weight of a liked book in the fit and in a library (a held one weighs 1).
        num_threads: implicit's threads for the fit (0: every core).

    Attributes:
        similarity_matrix: C x C sparse, row i holds book i's neighbours (and i itself).
    """

    def __init__(self, *, similarity: str = "cosine", neighbours: int = 100,
                 liked_weight: float = 1.0, num_threads: int = 0) -> None:
        if similarity not in ITEM_SIMILARITIES:
            raise ValueError(f"similarity must be one of {sorted(ITEM_SIMILARITIES)}")
        self.similarity = similarity
        self.neighbours = neighbours
        self.liked_weight = liked_weight
        self.num_threads = num_threads
        self.similarity_matrix: sparse.csr_matrix | None = None

    def fit(self, interactions: sparse.csr_matrix) -> Self:
        # implicit's K counts the book itself among its neighbours.
        recommender = ITEM_SIMILARITIES[self.similarity](K=self.neighbours + 1,
                                                         num_threads=self.num_threads)
        with warnings.catch_warnings():
            # implicit's own weighting hands its kNN a COO matrix, then warns that it converts it.
            warnings.simplefilter("ignore", ParameterWarning)
            recommender.fit(weigh(interactions, self.liked_weight), show_progress=False)
        self.similarity_matrix = recommender.similarity.astype(np.float32)
        return self

    def scores(self, libraries: sparse.csr_matrix) -> np.ndarray:
        weighted = weigh(libraries, self.liked_weight)
        return (weighted @ self.similarity_matrix).toarray().astype(np.float32, copy=False)


def gram_matrix(interactions: sparse.csr_matrix,
                block_columns: int = GRAM_BLOCK_COLUMNS) -> np.ndarray:
    """X^T X (C x C float32) built dense, a block of columns at a time: a sparse product would
    be nearly dense and several times larger (one reader holds ~10k books).

    >>> gram_matrix(sparse.csr_matrix([[1.0, 1.0], [0.0, 1.0]]), block_columns=1).tolist()
    [[1.0, 1.0], [1.0, 2.0]]
    """
    by_column = interactions.tocsc()
    transposed = interactions.T.tocsr()
    n_columns = interactions.shape[1]
    gram = np.empty((n_columns, n_columns), dtype=np.float32)
    for start in range(0, n_columns, block_columns):
        stop = min(start + block_columns, n_columns)
        gram[:, start:stop] = (transposed @ by_column[:, start:stop]).toarray()
    return gram


def _symmetric_inverse_in_place(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite float32 matrix, overwriting it: LAPACK's
    Cholesky and its inverse work in place, so no second C x C array is ever allocated."""
    # A C-ordered symmetric matrix is its own Fortran-ordered transpose: LAPACK reads it as is.
    fortran = matrix.T
    factor, info = lapack.spotrf(fortran, lower=True, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky failed (LAPACK info {info})")
    inverse, info = lapack.spotri(factor, lower=True, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverse failed (LAPACK info {info})")
    if not np.shares_memory(inverse, matrix):
        raise RuntimeError("LAPACK copied the matrix instead of working in place")
    # The Fortran lower triangle is the C upper one: mirror it into the lower one, block by block.
    n = matrix.shape[0]
    for start in range(0, n, GRAM_BLOCK_COLUMNS):
        stop = min(start + GRAM_BLOCK_COLUMNS, n)
        block = matrix[start:stop, start:stop]
        block[:] = np.triu(block) + np.triu(block, 1).T
        matrix[start:stop, :start] = matrix[:start, start:stop].T
    return matrix


class EASE:
    """EASE (Steck 2019): an item-item weight matrix B with a zero diagonal, closed form
    B = -P / diag(P) with P = (X^T X + l2 I)^-1; a reader's scores are library . B.

    B is dense over the books held by at least ``min_count`` train readers (C' x C' float32:
    20k books = 1.6 GB, at most ``EASE_MAX_BOOKS``); every other book scores ``-inf``.

    Args:
        l2: the ridge penalty lambda.
        min_count: train readers a book needs to enter B.
        liked_weight: weight of a liked book in the fit and in a library (a held one weighs 1).

    Attributes:
        columns: the catalogue columns of B's rows and columns (C').
        weights: B, C' x C' float32.
    """

    def __init__(self, *, l2: float = 500.0, min_count: int = 5,
                 liked_weight: float = 1.0) -> None:
        self.l2 = l2
        self.min_count = min_count
        self.liked_weight = liked_weight
        self.n_catalogue = 0
        self.columns: np.ndarray | None = None
        self.weights: np.ndarray | None = None

    def fit(self, interactions: sparse.csr_matrix) -> Self:
        """Fits B on the train readers (R x C).

        Raises:
            ValueError: if more than ``EASE_MAX_BOOKS`` books reach ``min_count`` (LAPACK would
                crash).
        """
        self.n_catalogue = interactions.shape[1]
        self.columns = np.flatnonzero(_column_counts(interactions) >= self.min_count)
        if len(self.columns) > EASE_MAX_BOOKS:
            raise ValueError(f"{len(self.columns):,} books reach min_count={self.min_count}, more "
                             f"than EASE's {EASE_MAX_BOOKS:,}: raise min_count")
        weighted = weigh(interactions, self.liked_weight)[:, self.columns]
        weights = gram_matrix(weighted)
        weights[np.diag_indices_from(weights)] += self.l2
        _symmetric_inverse_in_place(weights)
        # The diagonal is a view of the matrix being divided: copy it first.
        diagonal = np.diag(weights).copy()
        weights /= -diagonal
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights
        return self

    def scores(self, libraries: sparse.csr_matrix) -> np.ndarray:
        scores = np.full((libraries.shape[0], self.n_catalogue), -np.inf, dtype=np.float32)
        weighted = weigh(libraries, self.liked_weight)[:, self.columns]
        scores[:, self.columns] = weighted @ self.weights
        return scores


class ALS:
    """Implicit-feedback ALS (Hu, Koren and Volinsky 2008) through ``implicit``: a new reader's
    factors are the exact least-squares solve against the fixed book factors (implicit's
    ``recalculate_user``); scores are reader factors . book factors.

    Confidence of a held book: ``alpha`` (x ``liked_weight`` for a liked one); of any other: 1.

    Args:
        factors, regularization, alpha, iterations: implicit's ``AlternatingLeastSquares``.
        random_state: seed of the initial factors (same seed and data: same factors).
        liked_weight: weight of a liked book (a held one weighs 1) before ``alpha``.
        num_threads: implicit's threads for the fit (0: every core); the result does not
            depend on it. A fold-in runs on one thread.

    Attributes:
        item_factors: C x F float32.
    """

    def __init__(self, *, factors: int = 64, regularization: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, random_state: int = 0, liked_weight: float = 1.0,
                 num_threads: int = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.liked_weight = liked_weight
        self.num_threads = num_threads
        self.model: AlternatingLeastSquares | None = None

    @property
    def item_factors(self) -> np.ndarray:
        return self.model.item_factors

    def fit(self, interactions: sparse.csr_matrix) -> Self:
        # implicit runs its own threads: BLAS threads on top of them oversubscribe the cores.
        with one_blas_thread():
            self.model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.random_state,
                num_threads=self.num_threads)
            self.model.fit(weigh(interactions, self.liked_weight), show_progress=False)
        # Train readers' factors are never used again: new readers are folded in.
        self.model.user_factors = None
        # A fold-in is a small solve per reader: one thread is fast (0.1 ms a reader), and an
        # OpenMP team left spinning after it slowed the BLAS product that follows (30 ms instead
        # of 8 for one reader on 2 busy cores).
        self.model.num_threads = 1
        self._index_books()
        return self

    def reader_factors(self, libraries: sparse.csr_matrix) -> np.ndarray:
        """R x F: each library's least-squares factors against the fixed book factors."""
        weighted = weigh(libraries, self.liked_weight)
        with one_blas_thread():
            return self.model.recalculate_user(np.arange(weighted.shape[0]), weighted)

    def _index_books(self) -> None:
        """The book factors ordered longest first, their lengths, and each book's place."""
        lengths = np.linalg.norm(self.item_factors.astype(np.float64), axis=1)
        self._longest_first = np.argsort(-lengths, kind="stable")
        self._place = np.argsort(self._longest_first)
        self._ordered_factors = np.ascontiguousarray(self.item_factors[self._longest_first])
        self._ordered_lengths = lengths[self._longest_first]

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if not key.startswith("_")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.model is not None:
            self._index_books()

    def _product(self, reader: np.ndarray, start: int) -> np.ndarray:
        """One reader's (F) scores of the ``BOOKS_PER_PRODUCT`` books from place ``start``."""
        return self._ordered_factors[start:start + BOOKS_PER_PRODUCT] @ reader

    def scores(self, libraries: sparse.csr_matrix) -> np.ndarray:
        """Reader factors . book factors, one reader and ``BOOKS_PER_PRODUCT`` books per product
        on one BLAS thread: a product's rows move in their last bits with its shape and with
        OpenBLAS's thread count, so a reader's scores must not depend on how many others are
        scored with it (the served model scores one, the evaluation many) nor on the threads.
        One thread also keeps OpenBLAS's spinning threads out of a served model's workers."""
        factors = self.reader_factors(libraries)
        n_books = len(self._ordered_factors)
        scores = np.empty((len(factors), n_books), dtype=np.float32)
        with one_blas_thread():
            for row, reader in zip(scores, factors, strict=True):
                row[self._longest_first] = np.concatenate([
                    self._product(reader, start) for start in range(0, n_books, BOOKS_PER_PRODUCT)])
        return scores

    def best(self, libraries: sparse.csr_matrix, n: int,
             exclusions: sparse.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``best_columns`` of ``scores`` with each reader's library (and exclusions, any value
        > 0) at ``-inf``, to the bit, scoring only the books it must: books go longest factors
        first, and a reader stops once the n-th best score so far beats the Cauchy-Schwarz
        bound |u| |v| of every book left. On the full data a served reader scores about a
        third of the catalogue.

        Returns:
            Columns R x n (int64, ``NOT_RECOMMENDED`` in places no book can fill) and their
            scores R x n (float32).
        """
        factors = self.reader_factors(libraries)
        unwanted = libraries if exclusions is None else libraries + exclusions
        columns = np.empty((len(factors), n), dtype=np.int64)
        best = np.empty((len(factors), n), dtype=np.float32)
        with one_blas_thread():
            for row, reader in enumerate(factors):
                held = unwanted.indices[unwanted.indptr[row]:unwanted.indptr[row + 1]]
                columns[row], best[row] = self._reader_best(reader, held, n)
        return columns, best

    def _reader_best(self, reader: np.ndarray, unwanted: np.ndarray,
                     n: int) -> tuple[np.ndarray, np.ndarray]:
        """``best`` of one reader (factors F) who must not get the columns ``unwanted``."""
        n_books = len(self._ordered_factors)
        excluded = np.zeros(n_books, dtype=bool)
        excluded[self._place[unwanted]] = True
        reach = np.linalg.norm(reader.astype(np.float64)) * (1 + BOUND_SLACK)
        places, scores = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        nth = -np.inf  # the n-th best score so far: a book below it cannot enter
        for start in range(0, n_books, BOOKS_PER_PRODUCT):
            stop = min(start + BOOKS_PER_PRODUCT, n_books)
            product = self._product(reader, start)
            product[excluded[start:stop]] = -np.inf
            entering = np.flatnonzero(product >= nth)
            places = np.concatenate([places, start + entering])
            scores = np.concatenate([scores, product[entering]])
            if len(scores) > n:
                # Keep every book at or above the n-th best so far (ties included).
                nth = np.partition(scores, len(scores) - n)[len(scores) - n]
                kept = scores >= nth
                places, scores = places[kept], scores[kept]
            if stop < n_books and nth > reach * self._ordered_lengths[stop]:
                break
        # In column order, so that best_columns breaks ties by column as on all scores.
        candidates = self._longest_first[places]
        order = np.argsort(candidates)
        chosen, best = best_columns(scores[order][None], n)
        return (np.where(chosen[0] == NOT_RECOMMENDED, NOT_RECOMMENDED,
                         candidates[order][np.maximum(chosen[0], 0)]), best[0])
