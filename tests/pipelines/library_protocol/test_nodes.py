"""The reader's-library protocol's nodes on hand-made rows: which rows each reader's library and
held-out books get (never both), the matrices and targets, the anchors' lists and their
evaluation."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from book_recs.pipelines.library_protocol.nodes import (
    HELD_OUT,
    LIBRARY,
    PART_COLUMN,
    collect_reader_interactions,
    evaluate_top_n,
    index_readers,
    rank_readers,
    split_libraries,
    tune_anchor,
)
from book_recs.topn import Popularity

SPLIT = {"seed": 7, "held_out_share": 0.2}
EVALUATION = {"bootstrap_resamples": 50, "bootstrap_seed": 1, "confidence": 0.9}


def reader_rows(n_readers: int = 60, seed: int = 0) -> pd.DataFrame:
    """Readers of 1..30 rows over 40 books, a third of the ratings liked, split by reader."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_readers):
        books = rng.choice(40, size=rng.integers(1, 31), replace=False)
        ratings = rng.choice([0, 3, 9], size=len(books))
        split = ["train", "valid", "test"][user % 3]
        rows += [{"User-ID": 1000 + user, "ISBN": f"b{book:02d}", "Book-Rating": int(r),
                  "label": int(r > 7), "split": split} for book, r in zip(books, ratings,
                                                                          strict=True)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return split_libraries(reader_rows(), SPLIT)


def test_a_readers_library_and_held_out_books_never_meet_and_cover_their_rows(rows):
    original = reader_rows()
    assert len(rows) == len(original)
    pd.testing.assert_frame_equal(
        rows.drop(columns=PART_COLUMN).sort_values(["User-ID", "ISBN"], ignore_index=True),
        original.sort_values(["User-ID", "ISBN"], ignore_index=True))
    library = rows[rows[PART_COLUMN] == LIBRARY]
    held_out = rows[rows[PART_COLUMN] == HELD_OUT]
    assert not library.merge(held_out, on=["User-ID", "ISBN"]).shape[0]
    # round(0.2 x rows), halves up: none for 1-2 rows, one for 3-7, ...
    sizes = rows.groupby("User-ID").size()
    held = held_out.groupby("User-ID").size().reindex(sizes.index, fill_value=0)
    assert (held == np.floor(0.2 * sizes + 0.5)).all()
    assert held.max() > 1 and (held[sizes <= 2] == 0).all()


def test_the_split_depends_on_the_seed_and_the_rows_not_on_their_order(rows):
    shuffled = split_libraries(reader_rows().sample(frac=1.0, random_state=3), SPLIT)
    pd.testing.assert_frame_equal(shuffled, rows)
    other = split_libraries(reader_rows(), {**SPLIT, "seed": 8})
    assert not other[PART_COLUMN].equals(rows[PART_COLUMN])
    with pytest.raises(ValueError, match="held_out_share"):
        split_libraries(reader_rows(), {**SPLIT, "held_out_share": 1.0})


def test_the_matrices_hold_train_rows_libraries_and_liked_held_out_targets(rows):
    readers = index_readers(rows)
    train = rows[rows["split"] == "train"]
    assert readers.catalogue.isbns.tolist() == sorted(train["ISBN"].unique())
    assert readers.train.matrix.nnz == len(train)
    for split in ("train", "valid", "test"):
        part = rows[rows["split"] == split]
        expected = part[(part[PART_COLUMN] == HELD_OUT) & (part["label"] == 1)]
        pd.testing.assert_frame_equal(
            readers.targets[split], expected[["User-ID", "ISBN"]].reset_index(drop=True))
        libraries = readers.libraries[split]
        held = {(user, isbn) for user, isbn in zip(
            libraries.readers[libraries.matrix.nonzero()[0]],
            readers.catalogue.isbns[libraries.matrix.nonzero()[1]], strict=True)}
        in_library = part[(part[PART_COLUMN] == LIBRARY)
                          & part["ISBN"].isin(readers.catalogue.isbns)]
        assert held == set(zip(in_library["User-ID"], in_library["ISBN"], strict=True))
        # No row is on both sides: no target is in its reader's library.
        assert not held & set(zip(expected["User-ID"], expected["ISBN"], strict=True))
    judged = readers.judged_libraries("test")
    assert set(judged.readers) == set(readers.targets["test"]["User-ID"])


def test_an_anchor_is_tuned_on_valid_ranks_outside_the_library_and_is_evaluated(rows):
    readers = index_readers(rows)
    model, table = tune_anchor(readers, {"grid": {"count": ["held", "liked"]}}, 5, Popularity)
    assert table["chosen"].sum() == 1 and {"ndcg@5", "recall@5", "fit_seconds"} <= set(table)
    assert table.loc[table["chosen"], "count"].item() == model.count
    lists = {split: rank_readers(model, readers, split, 5) for split in ("valid", "test")}
    for split, table in lists.items():
        assert set(table["User-ID"]) <= set(readers.targets[split]["User-ID"])
        assert table.groupby("User-ID")["rank"].max().le(5).all()
        library = rows[(rows["split"] == split) & (rows[PART_COLUMN] == LIBRARY)]
        assert table.merge(library, on=["User-ID", "ISBN"]).empty
    metrics, replicates, per_reader = evaluate_top_n(lists["valid"], lists["test"], readers, 5,
                                                     EVALUATION)
    assert set(metrics["test"]["metrics"]) == {"ndcg@5", "recall@5"}
    assert metrics["test"]["n_users"] == readers.targets["test"]["User-ID"].nunique()
    assert metrics["test"]["n_targets"] == len(readers.targets["test"])
    assert set(replicates["split"]) == {"valid", "test"} and len(replicates) == 100
    assert per_reader["recall@5"].mean() == pytest.approx(
        metrics["test"]["metrics"]["recall@5"]["value"])


def test_collected_rows_are_the_split_readers_explicit_and_implicit_books():
    ratings = ibis.memtable({"User-ID": [1, 1, 2, 9], "ISBN": ["a", "b", "a", "a"],
                             "Book-Rating": [9, 4, 8, 10], "label": [1, 0, 1, 1]})
    implicit = ibis.memtable({"User-ID": [1, 3, 2], "ISBN": ["c", "a", "d"]})
    splits = ibis.memtable({"User-ID": [1, 2, 3], "split": ["train", "test", "valid"]})
    collected = collect_reader_interactions(ratings, implicit, splits).execute()
    assert collected.to_dict(orient="list") == {
        "User-ID": [1, 1, 1, 2, 2, 3], "ISBN": ["a", "b", "c", "a", "d", "a"],
        "Book-Rating": [9, 4, 0, 8, 0, 0], "label": [1, 0, 0, 1, 0, 0],
        "split": ["train", "train", "train", "test", "test", "valid"]}
