"""The recommender that reads the reader's library: their books in, a personal top N out (no
Kedro here).

Two stages, as the cold-start ``Recommender``, but both read the library:

- candidates: a top-N anchor (``book_recs.topn``: EASE, item-kNN or ALS, fitted on the train
  readers) scores the whole catalogue from the library and keeps the K best books the reader
  does not hold (nor leaves out); every anchor scores them too
  (``book_recs.topn.candidates.CandidateStage``);
- ranking: FinalMLP scores each (reader, candidate) pair from the reader's profile and library,
  the candidate's fields and what the anchors say of it
  (``book_recs.features.library.PairFeatures``), and the best ``top_n`` are answered. With a
  seed ensemble and a ``shortlist``, the first member scores every candidate and the ensemble
  only the first member's best few.

A reader without a library, or whose books are all outside the catalogue, gets the cold-start
``Recommender``'s list (Age, state, country); when the reader gave a library (empty, or of
unknown books), the note says so. The batch evaluation of the
library protocol and the served model both call ``rank``: one scoring path.

A request is the cold-start recommender's (``Age``, ``state``, ``country``, optional
``exclude_isbns`` and ``top_n``) with two optional fields: ``library`` (the reader's ISBNs as
text) and ``library_ratings`` (one per library book: 0 for a book held but not rated, 1-10 for a
rating). Unknown ISBNs are noted; a malformed library is an ``InvalidRequest`` naming the field.
"""

from __future__ import annotations

import gc
import logging
import numbers

import numpy as np
import pandas as pd
import torch
from scipy import sparse

from book_recs.columns import BOOK_COLUMN
from book_recs.devices import one_torch_thread
from book_recs.features.library import PairFeatures
from book_recs.models.data import to_device
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.inference import model_device
from book_recs.serving.recommender import (
    ANSWER_COLUMNS,
    EXCLUDE_FIELD,
    LIBRARY_FIELD,
    NOTE_COLUMN,
    NOTE_ISBNS,
    READER_COLUMN,
    READERS,
    UNLIMITED,
    InvalidRequest,
    Recommender,
    _above,
    _check_isbn_lists,
    _check_profile,
    _check_top_n,
    _echo,
    _is_null,
)
from book_recs.topn import NOT_RECOMMENDED, Catalogue, library_row
from book_recs.topn.candidates import CandidateStage
from book_recs.topn.ranking import best_columns

logger = logging.getLogger(__name__)

LIBRARY_RATINGS_FIELD = "library_ratings"
# Readers ranked at once in ``rank``: bounds the catalogue-wide scores (readers x C) in memory.
READERS_PER_BATCH = 64
COLD_START_NOTE = ("the library holds no catalogue book: cold-start recommendations from Age, "
                   "state and country")


def _check_library_ratings(readers: pd.DataFrame,
                           libraries: list[list[str]]) -> list[list[int] | None]:
    """Each reader's library ratings (None when not given): one whole number from 0 to 10 per
    library book."""
    if LIBRARY_RATINGS_FIELD not in readers.columns:
        return [None] * len(readers)
    checked = []
    for index, (rated, books) in enumerate(zip(readers[LIBRARY_RATINGS_FIELD], libraries,
                                               strict=True)):
        if _is_null(rated):
            checked.append(None)
            continue
        if (not isinstance(rated, (list, tuple, np.ndarray)) or len(rated) != len(books)
                or not all(isinstance(r, numbers.Real) and not isinstance(r, bool)
                           and np.isfinite(r) and float(r) == int(r) and 0 <= r <= 10
                           for r in rated)):
            raise InvalidRequest(LIBRARY_RATINGS_FIELD, f"reader {index}: must be a list of "
                                 f"{len(books)} whole numbers from 0 to 10 (one per library "
                                 f"book), got {_echo.repr(rated)}")
        checked.append([int(r) for r in rated])
    return checked


class LibraryRecommender:
    """Top-N books from a reader's library: K candidates of a top-N anchor, re-ranked by FinalMLP.

    Args:
        cold: The cold-start recommender (user-side features; readers without a library).
        stage: The candidate stage (its ``k`` is K).
        catalogue: Its anchors' catalogue.
        features: How pairs become the re-ranker's tensors.
        model: The re-ranker (FinalMLP or a ``SeedEnsemble``) over ``features.specs``.
        books: ``Book-Title`` and ``Book-Author`` of every catalogue book, in catalogue order.
        default_top_n: ``top_n`` of a reader who gives none.
        shortlist: With a ``SeedEnsemble``, the candidates every member scores: the first
            member's best ``shortlist`` of the K, or ``top_n`` if more
            (``SeedEnsemble.shortlist_logits``); None: every member scores all K.
    """

    def __init__(self, cold: Recommender, stage: CandidateStage, catalogue: Catalogue,
                 features: PairFeatures, model: torch.nn.Module, books: pd.DataFrame,
                 default_top_n: int = 10, shortlist: int | None = None) -> None:
        if len(books) != len(catalogue):
            raise ValueError(f"{len(books)} book rows for a catalogue of {len(catalogue)}")
        if not 1 <= default_top_n <= stage.k:
            raise ValueError(f"default_top_n must be from 1 to {stage.k}, got {default_top_n}")
        if list(features.candidate_names) != stage.feature_names:
            raise ValueError(f"the re-ranker reads {list(features.candidate_names)}, the "
                             f"candidate stage gives {stage.feature_names}")
        if shortlist is not None and not isinstance(model, SeedEnsemble):
            raise ValueError("a shortlist needs a SeedEnsemble re-ranker (its first member "
                             "draws it)")
        if shortlist is not None and not 1 <= shortlist <= stage.k:
            raise ValueError(f"shortlist must be from 1 to K = {stage.k}, got {shortlist}")
        self.cold = cold
        self.stage = stage
        self.catalogue = catalogue
        self.features = features
        self.model = model.eval()
        self.books = books.reset_index(drop=True)
        self.default_top_n = default_top_n
        self.shortlist = shortlist

    @property
    def candidate_count(self) -> int:
        """The most books a reader can ask for: K, and the cold-start path's own K."""
        return min(self.stage.k, self.cold.candidate_count)

    def __deepcopy__(self, memo: dict) -> LibraryRecommender:
        # Read-only once built: kedro-mlflow deep-copies its catalog on every request.
        return self

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"shortlist": None, **state})  # versions registered before it
        # Unpickled once (a served model), read-only after: its ~780k objects need no garbage
        # collection, and a full collection's walk over them cost a served request 2 ms on
        # average. The objects that exist now leave the collector's generations for good.
        gc.freeze()

    # ---------------------------------------------------------------- scoring
    def rank(self, users: pd.DataFrame, libraries: sparse.csr_matrix, top_n: int,
             exclusions: sparse.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each reader's ``top_n`` best catalogue columns and their probabilities, best first.

        Args:
            users: R readers' user-side features (``Recommender.user_features``).
            libraries: (R, C) their libraries (``book_recs.topn`` values: held, liked).
            top_n: Books per reader, at most K.
            exclusions: (R, C) books never to return besides the library (any value > 0).

        Returns:
            Columns (R, top_n), ``NOT_RECOMMENDED`` in places no candidate fills, and the
            re-ranker's probabilities (R, top_n), 0 there.
        """
        columns = np.full((libraries.shape[0], top_n), NOT_RECOMMENDED, dtype=np.int64)
        probabilities = np.zeros((libraries.shape[0], top_n), dtype=np.float64)
        with one_torch_thread():
            for start in range(0, libraries.shape[0], READERS_PER_BATCH):
                batch = slice(start, start + READERS_PER_BATCH)
                columns[batch], probabilities[batch] = self._rank_batch(
                    users.iloc[batch], libraries[batch],
                    None if exclusions is None else exclusions[batch], top_n)
        return columns, probabilities

    def _rank_batch(self, users: pd.DataFrame, libraries: sparse.csr_matrix,
                    exclusions: sparse.csr_matrix | None,
                    top_n: int) -> tuple[np.ndarray, np.ndarray]:
        candidates, described = self.stage.candidates(libraries, exclusions)
        device = model_device(self.model)
        readers = to_device(self.features.reader_tensors(users, libraries), device)
        logits = np.full(candidates.shape, -np.inf, dtype=np.float32)
        shortlist = None if self.shortlist is None else max(self.shortlist, top_n)
        # A reader at a time against its own candidates: the reader's side (its gate, its
        # library's pooling) once, not once per candidate; and its logits the same bits
        # whoever else is ranked with it.
        with torch.inference_mode():
            for reader, (columns, said) in enumerate(zip(candidates, described, strict=True)):
                filled = columns != NOT_RECOMMENDED
                if not filled.any():
                    continue
                items = to_device(self.features.candidate_tensors(columns[filled], said[filled]),
                                  device)
                one = {name: tensor[reader:reader + 1] for name, tensor in readers.items()}
                reader_logits = (
                    self.model.pair_logits(one, self.model.item_side(items))[0]
                    if shortlist is None or shortlist >= filled.sum() else
                    self.model.shortlist_logits(one, items, shortlist))
                logits[reader, filled] = reader_logits.float().cpu().numpy()
        places, best = best_columns(logits, top_n)
        chosen = np.where(places == NOT_RECOMMENDED, NOT_RECOMMENDED,
                          np.take_along_axis(candidates, np.maximum(places, 0), axis=1))
        probabilities = np.where(chosen == NOT_RECOMMENDED, 0.0,
                                 torch.sigmoid(torch.from_numpy(best).double()).numpy())
        return chosen, probabilities

    # ---------------------------------------------------------------- requests
    def recommend(self, readers: pd.DataFrame, *, check_limits: bool = True) -> pd.DataFrame:
        """Each reader's best books, best first: from their library when it holds a catalogue
        book, else the cold-start list (see the module docstring). The answer's columns are
        the cold-start recommender's; ``score`` is the re-ranker's probability of a liked book
        for a library reader. ``check_limits``: whether the cold-start recommender's request
        limits apply (the library counts among the ISBN lists).

        Raises:
            InvalidRequest: The request is empty, beyond a limit, or a field is missing or
                mistyped.
        """
        if not isinstance(readers, pd.DataFrame) or readers.empty:
            raise InvalidRequest(READERS, "the request holds no readers")
        limits = self.cold.limits if check_limits else UNLIMITED
        if len(readers) > limits.max_readers_per_request:
            raise InvalidRequest(READERS, _above("max_readers_per_request",
                                                 limits.max_readers_per_request, len(readers)))
        lists = _check_isbn_lists(readers, limits)
        top_n = _check_top_n(readers, self.default_top_n, self.candidate_count, limits.max_top_n)
        profile = _check_profile(readers)
        ratings = _check_library_ratings(readers, lists[LIBRARY_FIELD])
        rows, unknown = zip(*(library_row(self.catalogue, isbns, rated) for isbns, rated
                              in zip(lists[LIBRARY_FIELD], ratings, strict=True)), strict=True)
        libraries = sparse.vstack(rows, format="csr")
        with_library = np.flatnonzero(np.diff(libraries.indptr) > 0)
        cold = np.setdiff1d(np.arange(len(readers)), with_library)
        answers = []
        if len(cold):
            answer = self.cold.recommend(readers.iloc[cold].drop(
                columns=[LIBRARY_FIELD, LIBRARY_RATINGS_FIELD], errors="ignore"),
                check_limits=False)
            given = (readers[LIBRARY_FIELD].map(lambda value: not _is_null(value)).to_numpy()
                     if LIBRARY_FIELD in readers.columns else np.zeros(len(readers), bool))
            first = answer["rank"] == 1
            answer.loc[first, NOTE_COLUMN] = [
                _joined(COLD_START_NOTE if given[cold[reader]] else "",
                        _unknown_library_note(unknown[cold[reader]]), note)
                for reader, note in zip(answer.loc[first, READER_COLUMN],
                                        answer.loc[first, NOTE_COLUMN], strict=True)]
            answer[READER_COLUMN] = cold[answer[READER_COLUMN].to_numpy()]
            answers.append(answer)
        if len(with_library):
            answers.append(self._library_answer(
                profile.iloc[with_library], libraries[with_library],
                [lists[EXCLUDE_FIELD][i] for i in with_library], [top_n[i] for i in with_library],
                [unknown[i] for i in with_library], with_library))
        if len(answers) == 1:  # each part: ANSWER_COLUMNS, in reader order, best first
            return answers[0]
        answer = pd.concat(answers, ignore_index=True)
        return answer.sort_values([READER_COLUMN, "rank"], ignore_index=True)[ANSWER_COLUMNS]

    def _library_answer(self, profile: pd.DataFrame,
                        libraries: sparse.csr_matrix, exclusions: list[list[str]],
                        top_n: list[int], unknown: list[list[str]],
                        positions: np.ndarray) -> pd.DataFrame:
        users = self.cold.user_features(profile)
        excluded = sparse.vstack([library_row(self.catalogue, isbns)[0] for isbns in exclusions],
                                 format="csr")
        columns, probabilities = self.rank(users, libraries, max(top_n), excluded)
        kept = [(reader_columns != NOT_RECOMMENDED)[:n] for reader_columns, n
                in zip(columns, top_n, strict=True)]
        picked = np.concatenate([reader_columns[:len(k)][k] for reader_columns, k
                                 in zip(columns, kept, strict=True)])
        counts = np.array([k.sum() for k in kept])
        # Once per reader, on its first row, as the cold-start answer's notes.
        notes = np.full(len(picked), "", dtype=object)
        firsts = np.cumsum(counts) - counts
        for index in np.flatnonzero(counts):
            notes[firsts[index]] = _joined(
                _unknown_library_note(unknown[index]),
                *self.cold._notes(profile.iloc[index], users.iloc[index], exclusions[index],
                                  counts[index], top_n[index]))
        shown = self.books.iloc[picked]
        return pd.DataFrame({
            READER_COLUMN: np.repeat(positions, counts),
            "rank": np.concatenate([np.arange(1, count + 1) for count in counts]),
            BOOK_COLUMN: self.catalogue.isbns[picked],
            **{column: shown[column].array for column in shown.columns},
            "score": np.concatenate([reader_probabilities[:len(k)][k] for reader_probabilities, k
                                     in zip(probabilities, kept, strict=True)]),
            NOTE_COLUMN: pd.array(notes, dtype="str"),
        })


def _unknown_library_note(unknown: list[str]) -> str:
    """How many library ISBNs are outside the catalogue, and the first few."""
    if not unknown:
        return ""
    shown = ", ".join(map(_echo.repr, unknown[:NOTE_ISBNS]))
    first = f"the first {NOTE_ISBNS}: " if len(unknown) > NOTE_ISBNS else ""
    return f"library ISBNs not in the catalogue: {len(unknown):,} ({first}{shown})"


def _joined(*notes: str) -> str:
    return "; ".join(note for note in notes if note)
