"""The re-ranker's rows on the tiny catalogue (tests/serving/conftest.py): no train row sees its
own label (the candidate stage that makes them never saw the held-out books, the item statistics
are out of fold), the sampling of negatives, the candidate recall."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from book_recs.features.library import PairFeatures
from book_recs.features.model_input import ORDER_COLUMN
from book_recs.pipelines.library_recommender.nodes import (
    _sampled_rows,
    candidate_recall,
    list_catalogue_books,
    reranker_rows,
    resplit_train_readers,
)
from book_recs.serving.candidates import CandidateConfig, select_candidates
from book_recs.serving.recommender import Recommender
from book_recs.topn import LibrarySplit, Popularity
from book_recs.topn.candidates import CandidateStage
from tests.serving.conftest import LIMITS, RecentBooksModel, cleaned_rows

FOLDS = {"User-ID": list(range(5)), "fold": [0, 1, 0, 1, 0]}  # the fitted fixture's


class RecordingPopularity(Popularity):
    """Popularity that keeps every matrix any copy of it is fitted on."""

    fitted_on: list = []

    def fit(self, interactions):
        RecordingPopularity.fitted_on.append(interactions.copy())
        return super().fit(interactions)


@pytest.fixture(scope="module")
def protocol() -> tuple[LibrarySplit, pd.DataFrame]:
    """Readers 0-4 (train) hold b0..b4; reader u's held-out books are b_u (liked: a target)
    and b_(u-1) (not liked); reader 9 (valid) holds b0, b1 and b4 held out."""
    rows = cleaned_rows()[["User-ID", "ISBN", "Book-Rating", "label"]].assign(split="train")
    held = [(u, f"b{u}") for u in range(5)] + [(u, f"b{u - 1}") for u in range(1, 5)]
    rows["part"] = np.where(pd.MultiIndex.from_frame(rows[["User-ID", "ISBN"]]).isin(held),
                            "held_out", "library")
    valid = pd.DataFrame({"User-ID": 9, "ISBN": ["b0", "b1", "b4"], "Book-Rating": [9, 9, 9],
                          "label": 1, "split": "valid", "part": ["library", "library", "held_out"]})
    rows = pd.concat([rows, valid], ignore_index=True)
    profiles = pd.DataFrame({"User-ID": [0, 1, 2, 3, 4, 9], "Age": 30.0, "state": "texas",
                             "country": "usa"})
    return LibrarySplit.from_rows(rows, "split", "part", "library"), profiles


def test_no_train_row_sees_its_own_label(protocol, fitted, books, specs):
    readers, profiles = protocol
    cold = Recommender.build(fitted, books, select_candidates(books, CandidateConfig("most_liked", 5)),
                             RecentBooksModel(specs), 3, limits=LIMITS)
    catalogue_books = list_catalogue_books(books, ibis.memtable({
        "User-ID": [0], "ISBN": ["b1"], "Book-Title": ["Title b1"], "Book-Author": ["Author b1"],
        "Publisher": ["Ace"]}))
    stage = CandidateStage("liked", {"liked": RecordingPopularity(count="liked").fit(
        readers.train.matrix)}, k=5)
    features = PairFeatures.build(fitted, readers.catalogue, readers.train.matrix,
                                  catalogue_books, min_book_count=1, max_library=5,
                                  candidate_names=stage.feature_names)
    folds = ibis.memtable(FOLDS)
    split = {"seed": 0, "held_out_share": 0.4}
    RecordingPopularity.fitted_on.clear()
    train, valid = reranker_rows(readers, profiles, stage, features, cold, catalogue_books,
                                 fitted, folds, split,
                                 {"splits": 2, "negatives_per_reader": 1, "seed": 5})

    # Each split's pairs come from a copy of the stage fitted on that split's libraries alone,
    # never on the held-out books of the same split.
    for seed, fitted_on in zip((5, 6), RecordingPopularity.fitted_on, strict=True):
        resplit = resplit_train_readers(readers, {**split, "seed": seed})
        assert (fitted_on != resplit.libraries["train"].matrix).nnz == 0
        assert fitted_on.nnz < readers.train.matrix.nnz
    # One split: its labels are its targets (held-out liked books).
    train, _ = reranker_rows(readers, profiles, stage, features, cold, catalogue_books, fitted,
                             folds, split, {"splits": 1, "negatives_per_reader": 1, "seed": 5})
    resplit = resplit_train_readers(readers, {**split, "seed": 5})
    targets = resplit.targets["train"]
    book_ids = train["categorical"][:, -1].numpy()
    isbns = readers.catalogue.isbns[[np.flatnonzero(features.book_ids == i)[0] for i in book_ids]]
    readers_of_rows = resplit.judged_libraries("train").readers[train["user"].numpy()]
    labelled = {(int(u), str(b)) for u, b, label in zip(readers_of_rows, isbns, train["label"],
                                                        strict=True) if label == 1}
    assert labelled == set(zip(targets["User-ID"], targets["ISBN"], strict=True))
    # The pairs' item statistics are out of fold: what the feature stage gives a train row of
    # that reader, never the all-train statistics that count the reader's own rating.
    statistic = list(features.item_numeric_names).index("ISBN_like_rate")
    offset = len(features.user_numeric) + 1  # the user's numeric fields, then library_size
    pairs = ibis.memtable({"User-ID": readers_of_rows, "ISBN": isbns.astype(str),
                           ORDER_COLUMN: np.arange(len(isbns))})
    expected = fitted.build(pairs.join(catalogue_books, "ISBN"), row_folds=folds,
                            side="item").execute()["ISBN_like_rate"].to_numpy(np.float32)
    np.testing.assert_array_equal(train["numeric"][:, offset + statistic].numpy(), expected)
    all_train = features.item_numeric[readers.catalogue.columns_of(isbns), statistic]
    assert not np.array_equal(expected, all_train)
    # Valid rows: reader 9's candidates from the served stage, its held-out b4 the positive.
    assert valid["label"].sum() == 1 and len(valid["label"]) == 3


def test_negatives_are_sampled_per_reader_with_a_positive():
    reader = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    label = np.array([0, 1, 0, 0, 0, 0, 1, 1, 0], dtype=np.float32)
    kept = _sampled_rows(reader, label, negatives=1, seed=3)
    assert set(kept) >= {1, 6, 7} and not set(kept) & {4, 5}
    assert (np.bincount(reader[kept][label[kept] == 0], minlength=3) == [1, 0, 1]).all()
    np.testing.assert_array_equal(kept, _sampled_rows(reader, label, negatives=1, seed=3))
    assert len(_sampled_rows(reader, label, negatives=5, seed=3)) == 7


def test_candidate_recall_counts_every_target(protocol):
    readers, _ = protocol
    columns = readers.catalogue.columns_of(["b4", "b2"])[None, :]
    # Reader 9's one target, b4, is among two candidates; a target outside would count too.
    assert candidate_recall(columns, np.array([9]), readers.targets["valid"], readers) == 1.0
    targets = pd.concat([readers.targets["valid"],
                         pd.DataFrame({"User-ID": [9], "ISBN": ["not-in-catalogue"]})])
    assert candidate_recall(columns, np.array([9]), targets, readers) == 0.5
