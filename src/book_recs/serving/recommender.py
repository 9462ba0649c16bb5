"""The recommender: readers in, each reader's top-N books of the catalogue out (no Kedro here).

Two stages. The candidate stage (``candidates``, fitted on train) fixed K books when the
recommender was built; the ranking stage scores every reader against those K books with the
trained FinalMLP and keeps each reader's best ``top_n``. The batch ``recommendation`` pipeline
and the served MLflow model both call ``Recommender.recommend``: one scoring path.

The model input is the feature stage's own (``FittedFeatures.build``), one side at a time:

- the item side of the K candidates is built once, when the recommender is built, on the
  pipeline's engine (their title components, item statistics and author/year/publisher ids);
- the user side (Age, state, country) of a request's readers is the same Ibis expression's,
  tabulated once per loaded recommender (``book_recs.serving.user_side``): a request looks its
  places' ids up and scales its Age, with no query;
- reader x candidate rows put the two sides side by side and go through ``to_tensors`` and
  ``predict``, as the evaluation's scores do.

A reader's candidates are ordered by ``ranking``: ``like_probability`` (the model's probability
that the reader likes the book, as it was trained: given that the reader rated it) or
``expected_like`` (that probability times the book's ``read_share``, the share of train readers
who rated it: the chance that the reader reads the book and likes it). The answer's ``score`` is
the quantity ranked.

A request is a table of readers: ``Age`` (number or null), ``state`` and ``country`` (text or
null) are required, ``exclude_isbns`` (books already read, never recommended back) and ``top_n``
(default 10, at most K) are optional. Anything else is refused with ``InvalidRequest``, whose
message starts with the field. Unknown states, countries and ISBNs are valid: they get the
out-of-vocabulary id (or are nothing to leave out) and a ``note`` on the reader's first row.

A request is checked against the recommender's ``RequestLimits`` before any work: readers per
request, ISBNs per list and per request, ``top_n``. The limits travel inside the pickled
recommender, so the served model enforces them; they bound what a request costs and what its
answer holds (at most ``max_top_n`` rows per reader, a note of bounded length).
"""

from __future__ import annotations

import logging
import numbers
import reprlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import torch
from torch import Tensor

from book_recs.columns import BOOK_COLUMN
from book_recs.devices import one_torch_thread
from book_recs.features import FieldConfig
from book_recs.features.model_input import ORDER_COLUMN, FittedFeatures
from book_recs.models.data import to_device, to_tensors
from book_recs.models.feature_spec import field_order
from book_recs.models.inference import model_device, predict
from book_recs.serving.candidates import CANDIDATE_RANK, READ_SHARE
from book_recs.serving.user_side import UserSide

logger = logging.getLogger(__name__)

PROFILE_FIELDS = {"Age": "float64", "state": "string", "country": "string"}
"""Required per reader (null allowed: a missing Age takes the train median, a missing location
part the ``unknown`` token, as in training)."""
EXCLUDE_FIELD, TOP_N_FIELD, READERS = "exclude_isbns", "top_n", "readers"
LIBRARY_FIELD = "library"
"""The reader's own books (``book_recs.serving.library``); the cold-start recommender reads none."""
ISBN_LIST_FIELDS = (EXCLUDE_FIELD, LIBRARY_FIELD)
"""Every per-reader list of ISBNs a request may hold: each list within ``max_isbns_per_reader``,
all of them together within ``max_isbns_per_request``."""
READER_COLUMN, NOTE_COLUMN = "reader", "note"
BOOK_FIELDS = [BOOK_COLUMN, "Book-Title", "Book-Author"]
ANSWER_COLUMNS = [READER_COLUMN, "rank", *BOOK_FIELDS, "score", NOTE_COLUMN]
FITTED_TABLES = ("title_components", "item_statistics", "statistics_priors", "vocabularies")
# Reader x candidate rows scored at once: bounds memory when many readers are ranked together.
MAX_ROWS_PER_BATCH = 8192
RANKINGS = ("like_probability", "expected_like")
# A note shows this many unknown ISBNs (and counts them all).
NOTE_ISBNS = 5
# What a message or a note echoes of a request's value: never the whole of a long one.
_echo = reprlib.Repr()
_echo.maxstring, _echo.maxother, _echo.maxlist, _echo.maxtuple = 40, 40, 5, 5


@dataclass(frozen=True)
class RequestLimits:
    """What one request may ask; beyond a limit it is refused (``InvalidRequest`` naming the
    limit and the value) before any work. Parameters ``recommendation.limits``.

    Attributes:
        max_readers_per_request: Readers (records) in one request.
        max_isbns_per_reader: ISBNs in one reader's list (each of ``ISBN_LIST_FIELDS``).
        max_isbns_per_request: ISBNs in all the lists of one request together.
        max_top_n: A reader's ``top_n`` (the candidate count bounds it too).
    """

    max_readers_per_request: int
    max_isbns_per_reader: int
    max_isbns_per_request: int
    max_top_n: int

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number from 1, got {value!r}")


UNLIMITED = RequestLimits(**{field.name: sys.maxsize for field in fields(RequestLimits)})


def ranking_scores(like_probabilities: np.ndarray, read_shares: np.ndarray,
                   ranking: str) -> np.ndarray:
    """What a reader's candidates are ordered by (readers, K): the like probabilities, or
    (``expected_like``) the like probabilities times the candidates' read shares.

    >>> ranking_scores(np.array([[0.5, 0.8]]), np.array([0.2, 0.1]), "expected_like")
    array([[0.1 , 0.08]])
    """
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
    return like_probabilities * read_shares if ranking == "expected_like" else like_probabilities


class InvalidRequest(ValueError):
    """A request the recommender cannot answer; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _is_null(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, tuple, np.ndarray)) and bool(pd.isna(value)))


def _check_profile(readers: pd.DataFrame) -> pd.DataFrame:
    """The readers' Age, state and country, typed."""
    missing = [field for field in PROFILE_FIELDS if field not in readers.columns]
    if missing:
        raise InvalidRequest(missing[0], f"every reader needs the field '{missing[0]}' "
                                         "(null when unknown)")
    for index, age in enumerate(readers["Age"]):
        if not _is_null(age) and (isinstance(age, bool) or not isinstance(age, numbers.Real)):
            raise InvalidRequest("Age", f"reader {index}: must be a number or null, "
                                          f"got {_echo.repr(age)}")
    for field in ("state", "country"):
        for index, value in enumerate(readers[field]):
            if not _is_null(value) and not isinstance(value, str):
                raise InvalidRequest(field, f"reader {index}: must be text or null, "
                                           f"got {_echo.repr(value)}")
    return pd.DataFrame({
        "Age": pd.to_numeric(readers["Age"], errors="raise").astype("float64").to_numpy(),
        **{field: pd.array([None if _is_null(v) else v for v in readers[field]], dtype="str")
           for field in ("state", "country")},
    })


def _above(limit: str, most: int, value: int) -> str:
    """How a message names a limit and the value beyond it."""
    return f"above the limit {limit} = {most:,}, got {value:,}"


def isbn_lists(readers: pd.DataFrame, field: str, most: int) -> list[list[str]]:
    """Each reader's list of ISBNs in ``field`` (empty when the field or the value is absent):
    a list of text, at most ``most`` long (counted before its items are read)."""
    if field not in readers.columns:
        return [[] for _ in range(len(readers))]
    lists = []
    for index, value in enumerate(readers[field]):
        if _is_null(value):
            lists.append([])
            continue
        if not isinstance(value, (list, tuple, np.ndarray)):
            raise InvalidRequest(field, f"reader {index}: must be a list of ISBNs as text, "
                                        f"got {_echo.repr(value)}")
        if len(value) > most:
            raise InvalidRequest(field, f"reader {index}: "
                                        f"{_above('max_isbns_per_reader', most, len(value))}")
        if not all(isinstance(isbn, str) for isbn in value):
            raise InvalidRequest(field, f"reader {index}: must be a list of ISBNs as text, "
                                        f"got {_echo.repr(list(value))}")
        lists.append(list(value))
    return lists


def _check_isbn_lists(readers: pd.DataFrame, limits: RequestLimits) -> dict[str, list[list[str]]]:
    """Each of ``ISBN_LIST_FIELDS``: every reader's list, within the limits."""
    lists = {field: isbn_lists(readers, field, limits.max_isbns_per_reader)
             for field in ISBN_LIST_FIELDS}
    total = sum(len(isbns) for field_lists in lists.values() for isbns in field_lists)
    if total > limits.max_isbns_per_request:
        raise InvalidRequest("+".join(ISBN_LIST_FIELDS),
                             _above("max_isbns_per_request", limits.max_isbns_per_request, total))
    return lists


def _check_top_n(readers: pd.DataFrame, default: int, candidates: int,
                 limit: int) -> list[int]:
    """Each reader's ``top_n`` (``default`` when absent): a whole number from 1 to the candidate
    count and the limit ``max_top_n``, whichever is lower."""
    if TOP_N_FIELD not in readers.columns:
        return [default] * len(readers)
    most = min(candidates, limit)
    bound = " and ".join(name for name, value in (("the candidate count", candidates),
                                                  (f"the limit max_top_n = {limit}", limit))
                         if value == most)
    counts = []
    for index, value in enumerate(readers[TOP_N_FIELD]):
        if _is_null(value):
            counts.append(default)
            continue
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not np.isfinite(value) or float(value) != int(value)
                or not 1 <= int(value) <= most):
            raise InvalidRequest(TOP_N_FIELD, f"reader {index}: must be a whole number from 1 to "
                                              f"{most} ({bound}), got {_echo.repr(value)}")
        counts.append(int(value))
    return counts


class Recommender:
    """Top-N books for cold-start readers: K candidate books ranked by a trained model.

    Build it with ``Recommender.build`` (from the feature stage's fitted tables); it pickles
    without its user-side lookups and tabulates them again when unpickled.

    Args:
        model: The trained FinalMLP or ``SeedEnsemble`` (logits; ``predict`` makes probabilities);
            its ``input_specs`` (the fields it reads) lay out the tensors.
        config: The feature stage's field configuration.
        candidates: One row per candidate book, best first by the candidate rule: ``ISBN``,
            ``Book-Title``, ``Book-Author`` (what an answer shows) and ``read_share``.
        item_features: The candidates' item-side model-input columns, row for row.
        user_vocabularies: The rows of the fitted ``vocabularies`` table for the user fields.
        scaling: The fitted ``scaling_statistics`` table (one row).
        table_schemas: The Ibis schemas of the fitted tables (``FITTED_TABLES``): the user-side
            expression is compiled over tables of these schemas.
        catalogue_isbns: Every ISBN of the catalogue (a left-out ISBN outside it gets a note).
        default_top_n: ``top_n`` of a reader who gives none.
        ranking: ``like_probability`` or ``expected_like`` (see the module docstring).
        limits: What one request may ask.
    """

    def __init__(self, model: torch.nn.Module, config: FieldConfig,
                 candidates: pd.DataFrame, item_features: pd.DataFrame,
                 user_vocabularies: pd.DataFrame,
                 scaling: pd.DataFrame, table_schemas: dict[str, ibis.Schema],
                 catalogue_isbns: Sequence[str], default_top_n: int = 10,
                 ranking: str = "like_probability", *, limits: RequestLimits) -> None:
        if candidates.empty:
            raise ValueError("a recommender needs at least one candidate book")
        if ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
        if not 1 <= default_top_n <= len(candidates):
            raise ValueError(f"default_top_n must be from 1 to {len(candidates)}, got {default_top_n}")
        self.model = model
        self.config = config
        if len(item_features) != len(candidates):
            raise ValueError(f"{len(item_features)} item-feature rows for {len(candidates)} "
                             "candidates")
        self.candidates = candidates.reset_index(drop=True)
        self.item_features = item_features.reset_index(drop=True)
        self.user_vocabularies = user_vocabularies
        self.scaling = scaling
        self.table_schemas = table_schemas
        self.catalogue_isbns = frozenset(catalogue_isbns)
        self.default_top_n = default_top_n
        self.ranking = ranking
        self.limits = limits
        self._prepare()

    @classmethod
    def build(cls, fitted: FittedFeatures, books: ir.Table, candidates: ir.Table,
              model: torch.nn.Module, default_top_n: int = 10,
              ranking: str = "like_probability", *, limits: RequestLimits) -> Recommender:
        """Compute the candidates' item side with the fitted tables, on their engine.

        Args:
            fitted: What the feature stage fitted on train.
            books: Rows with the book columns (the cleaned ratings): the catalogue.
            candidates: ``select_candidates``'s table (``ISBN``, ``read_share``,
                ``candidate_rank``).
            model: The trained model.
            default_top_n: ``top_n`` of a reader who gives none.
            ranking: ``like_probability`` or ``expected_like``.
            limits: What one request may ask.
        """
        catalogue = books.select(BOOK_COLUMN, "Book-Title", "Book-Author", "Year-Of-Publication",
                                 "Publisher").distinct()
        rows = candidates.select(BOOK_COLUMN, **{ORDER_COLUMN: candidates[CANDIDATE_RANK]}).join(
            catalogue, BOOK_COLUMN)
        item_side = fitted.build(rows, side="item").execute()
        shown = rows.join(candidates.select(BOOK_COLUMN, READ_SHARE), BOOK_COLUMN).order_by(
            ORDER_COLUMN).select(*BOOK_FIELDS, READ_SHARE).execute()
        if not shown[BOOK_COLUMN].equals(item_side[BOOK_COLUMN]):
            raise ValueError("the candidates' item side came back in another order")
        vocabularies = fitted.vocabularies
        user_vocabularies = vocabularies.filter(
            vocabularies["field"].isin(list(fitted.config.user_fields))).execute()
        tables = dict(zip(FITTED_TABLES, (fitted.title_components, fitted.statistics,
                                          fitted.priors, fitted.vocabularies), strict=True))
        return cls(model, fitted.config, shown, item_side.drop(columns=BOOK_COLUMN),
                   user_vocabularies, fitted.scaling,
                   {name: table.schema() for name, table in tables.items()},
                   books.select(BOOK_COLUMN).distinct().execute()[BOOK_COLUMN].tolist(),
                   default_top_n, ranking, limits=limits)

    # ---------------------------------------------------------------- runtime state
    def _prepare(self) -> None:
        """The user side's lookups (``UserSide``) and the candidates' tensors."""
        # The user side reads the vocabularies alone of the fitted tables: the others stay
        # unbound (their schemas) and are never executed.
        tables = {name: ibis.table(schema, name=name) for name, schema in self.table_schemas.items()}
        tables["vocabularies"] = ibis.memtable(self.user_vocabularies)
        fitted = FittedFeatures(self.config, *(tables[name] for name in FITTED_TABLES), self.scaling)
        self._user_side = UserSide.tabulate(lambda readers: fitted.build(readers, side="user"),
                                            self.config, self.user_vocabularies, self.scaling,
                                            PROFILE_FIELDS)
        # The candidates' tensors, with each user field's slot (its column in the numeric or
        # categorical tensor, as ``to_tensors`` lays them out) to fill per reader.
        specs = self.model.input_specs
        self._user_columns = [spec.name for spec in specs if spec.context == "user"]
        self._user_slots = {
            kind: [(index, spec.name) for index, spec in
                   enumerate(s for s in field_order(specs) if s.kind == kind)
                   if spec.context == "user"]
            for kind in ("numeric", "categorical")}
        if sum(map(len, self._user_slots.values())) != len(self._user_columns):
            raise ValueError("user-side fields must be numeric or categorical")
        self._item_tensors = to_tensors(
            self.item_features.assign(**dict.fromkeys(self._user_columns, 0)), specs)
        # A model that can score users against fixed items (FinalMLP, SeedEnsemble) computes the
        # candidates' side once here; others score every reader x candidate row.
        self._item_side = None
        if hasattr(self.model, "pair_logits"):
            self.model.eval()
            try:
                with torch.inference_mode():
                    self._item_side = self.model.item_side(
                        to_device(self._item_tensors, model_device(self.model)))
            except ValueError as reason:
                logger.info("the recommender scores every reader x candidate row: %s", reason)
        self._isbn_order = np.argsort(np.argsort(self.candidates[BOOK_COLUMN].to_numpy()))

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if not key.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._prepare()

    def __deepcopy__(self, memo: dict) -> Recommender:
        # Read-only once built: kedro-mlflow deep-copies its catalog on every request, and a
        # copy of the model and tables per request would cost more than the request itself.
        return self

    # ---------------------------------------------------------------- scoring
    @property
    def candidate_count(self) -> int:
        return len(self.candidates)

    @property
    def pairwise(self) -> bool:
        """Whether the model scores readers against the candidates' side computed once
        (``pair_logits``) rather than every reader x candidate row."""
        return self._item_side is not None

    def user_features(self, profile: pd.DataFrame) -> pd.DataFrame:
        """The user-side model input of readers (``Age``, ``state``, ``country``), in their
        order."""
        return self._user_side.features(profile)

    def _with_users(self, rows: dict[str, Tensor], users: pd.DataFrame) -> dict[str, Tensor]:
        """``rows`` repeated for every user (user-major), each copy with that user's fields."""
        tensors = {name: tensor.repeat(len(users), *[1] * (tensor.dim() - 1))
                   for name, tensor in rows.items()}
        each = len(rows["numeric"])
        for kind, slots in self._user_slots.items():
            for index, name in slots:
                values = torch.tensor(users[name].to_numpy(), dtype=tensors[kind].dtype)
                tensors[kind][:, index] = values.repeat_interleave(each)
        return tensors

    def score(self, user_features: pd.DataFrame) -> np.ndarray:
        """Probability of a like of every reader for every candidate: (readers, K)."""
        with one_torch_thread():
            return self._score(user_features)

    def _score(self, user_features: pd.DataFrame) -> np.ndarray:
        k = self.candidate_count
        per_batch = max(1, MAX_ROWS_PER_BATCH // k)
        scores = []
        for start in range(0, len(user_features), per_batch):
            users = user_features.iloc[start:start + per_batch]
            if self._item_side is None:  # reader x candidate rows through ``predict``
                probabilities = predict(self.model, self._with_users(self._item_tensors, users))
            else:  # one row per reader, the candidates' side computed once
                first = {name: tensor[:1] for name, tensor in self._item_tensors.items()}
                readers = to_device(self._with_users(first, users), model_device(self.model))
                with torch.inference_mode():
                    logits = self.model.pair_logits(readers, self._item_side).float().cpu()
                probabilities = torch.sigmoid(logits).double().numpy()
            scores.append(probabilities.reshape(len(users), k))
        return np.concatenate(scores)

    def profile_features(self, readers: pd.DataFrame) -> pd.DataFrame:
        """``user_features`` of readers given by ``Age``, ``state`` and ``country`` (checked and
        typed as a request's)."""
        return self.user_features(_check_profile(readers))

    def like_probabilities(self, readers: pd.DataFrame) -> np.ndarray:
        """``score`` of readers given by ``Age``, ``state`` and ``country`` alone: (readers, K)."""
        return self.score(self.profile_features(readers))

    def best_first(self, scores: np.ndarray) -> np.ndarray:
        """The candidates' positions by one reader's ``scores``, best first (equal scores in
        ISBN order): the order every answer follows."""
        return np.lexsort((self._isbn_order, -scores))

    def recommend(self, readers: pd.DataFrame, *, check_limits: bool = True) -> pd.DataFrame:
        """Each reader's best books among the candidates, best first.

        Args:
            readers: One row per reader (see the module docstring).
            check_limits: Whether ``limits`` apply: False for the project's own evaluation,
                which ranks every profile of a split at once and is no request.

        Returns:
            ``reader`` (its row in ``readers``), ``rank`` (1..), ``ISBN``, ``Book-Title``,
            ``Book-Author``, ``score`` (what ``ranking`` orders by: the probability that the
            reader rates the book above 7, or that the reader rates it and above 7) and
            ``note`` (what was unknown in the reader's request, on the reader's first row;
            empty on the other rows and when nothing was).

        Raises:
            InvalidRequest: The request is empty, beyond a limit, or a field is missing or
                mistyped.
        """
        if not isinstance(readers, pd.DataFrame) or readers.empty:
            raise InvalidRequest(READERS, "the request holds no readers")
        limits = self.limits if check_limits else UNLIMITED
        if len(readers) > limits.max_readers_per_request:
            raise InvalidRequest(READERS, _above("max_readers_per_request",
                                                 limits.max_readers_per_request, len(readers)))
        exclusions = _check_isbn_lists(readers, limits)[EXCLUDE_FIELD]
        top_n = _check_top_n(readers, self.default_top_n, self.candidate_count, limits.max_top_n)
        profile = _check_profile(readers)
        users = self.user_features(profile)
        scores = ranking_scores(self.score(users), self.candidates[READ_SHARE].to_numpy(),
                                self.ranking)
        isbns = self.candidates[BOOK_COLUMN].to_numpy()
        picks, notes = [], []
        for reader, reader_scores in enumerate(scores):
            order = self.best_first(reader_scores)
            best = order[~np.isin(isbns[order], exclusions[reader])][:top_n[reader]]
            picks.append(best)
            notes.append("; ".join(self._notes(profile.iloc[reader], users.iloc[reader],
                                               exclusions[reader], len(best), top_n[reader])))
        reader = np.repeat(np.arange(len(picks)), [len(best) for best in picks])
        best = np.concatenate(picks)
        rank = np.concatenate([np.arange(1, len(p) + 1) for p in picks])
        answer = self.candidates.iloc[best][BOOK_FIELDS].reset_index(drop=True)
        answer.insert(0, "rank", rank)
        answer.insert(0, READER_COLUMN, reader)
        answer["score"] = scores[reader, best]
        # Once per reader: a long note on each of its rows would multiply the answer's size.
        answer[NOTE_COLUMN] = np.where(rank == 1, np.asarray(notes, dtype=object)[reader], "")
        return answer[ANSWER_COLUMNS]

    def _notes(self, profile: pd.Series, features: pd.Series, exclusions: list[str],
               returned: int, asked: int) -> list[str]:
        """What a reader's answer should say about the request: unknown values, a clipped age,
        ISBNs outside the catalogue, fewer books than asked."""
        notes = [f"{field} {_echo.repr(profile[field])} is not in the training "
                 "vocabulary (out-of-vocabulary id)" for field in ("state", "country")
                 if field in self._user_columns and not _is_null(profile[field])
                 and features[field] == 0]
        age = self.config.numeric_column("Age")
        minimum, maximum = (float(self.scaling.iloc[0].get(f"{statistic}:{age}", np.nan))
                            for statistic in ("minimum", "maximum"))
        if not _is_null(profile["Age"]) and (profile["Age"] < minimum or profile["Age"] > maximum):
            notes.append(f"Age {profile['Age']:g} is outside the train range [{minimum:g}, "
                         f"{maximum:g}] and counts as the nearest end")
        unknown = [isbn for isbn in exclusions if isbn not in self.catalogue_isbns]
        if unknown:
            shown = ", ".join(map(_echo.repr, unknown[:NOTE_ISBNS]))
            first = f"the first {NOTE_ISBNS}: " if len(unknown) > NOTE_ISBNS else ""
            notes.append(f"left-out ISBNs not in the catalogue: {len(unknown):,} ({first}{shown})")
        if returned < asked:
            notes.append(f"only {returned} candidates are left after leaving out the read books")
        return notes
