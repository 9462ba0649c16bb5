"""The user split: disjoint, right shares, reproducible; each split's rows in the cleaned order."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from book_recs.pipelines.data_split.nodes import SPLITS, assign_users_to_splits, split_ratings

PARAMS = {"seed": 2021, "shares": {"train": 0.7, "valid": 0.1, "test": 0.2}}


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    """1,000 users with 1..5 ratings each, users interleaved, with the cleaned table's order key."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1000) * 7 + 3, rng.integers(1, 6, 1000))
    table = pd.DataFrame({"User-ID": users, "ISBN": [f"b{i}" for i in range(len(users))],
                          "label": rng.integers(0, 2, len(users))})
    table = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    return table.assign(row_order=np.arange(len(table), dtype=np.int64))


def user_sets(user_splits: pd.DataFrame) -> list[set[int]]:
    return [set(user_splits.loc[user_splits["split"] == split, "User-ID"]) for split in SPLITS]


def test_no_user_is_in_two_splits_and_no_row_is_lost(ratings):
    user_splits = assign_users_to_splits(ratings[["User-ID"]], PARAMS)
    assert user_splits["User-ID"].is_unique
    assert set(user_splits["User-ID"]) == set(ratings["User-ID"])
    con = ibis.duckdb.connect()
    parts = [con.execute(part) for part in split_ratings(ibis.memtable(ratings),
                                                         ibis.memtable(user_splits))]
    train, valid, test = (set(part["User-ID"]) for part in parts)
    assert not (train & valid or train & test or valid & test)
    assert [set(part["User-ID"]) for part in parts] == user_sets(user_splits)
    for part in parts:
        assert list(part.columns) == list(ratings.columns)
        assert part["row_order"].is_monotonic_increasing
    pd.testing.assert_frame_equal(
        pd.concat(parts).sort_values("row_order").reset_index(drop=True), ratings)


def test_user_shares_follow_the_parameters(ratings):
    assert [len(s) for s in user_sets(assign_users_to_splits(ratings, PARAMS))] == [700, 100, 200]
    other = {"seed": 2021, "shares": {"train": 0.5, "valid": 0.25, "test": 0.25}}
    assert [len(s) for s in user_sets(assign_users_to_splits(ratings, other))] == [500, 250, 250]


def test_same_seed_same_split_whatever_the_row_order(ratings):
    first = assign_users_to_splits(ratings, PARAMS)
    shuffled = ratings.sample(frac=1.0, random_state=5)
    pd.testing.assert_frame_equal(assign_users_to_splits(shuffled, PARAMS), first)


def test_other_seed_other_split(ratings):
    first = user_sets(assign_users_to_splits(ratings, PARAMS))
    second = user_sets(assign_users_to_splits(ratings, {**PARAMS, "seed": 7}))
    assert first[2] != second[2]


@pytest.mark.parametrize(
    "shares",
    [{"train": 0.7, "valid": 0.1, "test": 0.1},
     {"train": 0.8, "test": 0.2},
     {"train": 1.2, "valid": -0.4, "test": 0.2}],
)
def test_bad_shares_are_refused(ratings, shares):
    with pytest.raises(ValueError, match="data_split.shares"):
        assign_users_to_splits(ratings, {"seed": 1, "shares": shares})
