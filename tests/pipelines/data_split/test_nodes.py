"""The user split: disjoint, right shares, reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from book_recs.pipelines.data_split.nodes import split_users

PARAMS = {"seed": 2021, "shares": {"train": 0.7, "valid": 0.1, "test": 0.2}}


@pytest.fixture
def ratings() -> pd.DataFrame:
    """1,000 users with 1..5 ratings each, in shuffled row order."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1000) * 7 + 3, rng.integers(1, 6, 1000))
    table = pd.DataFrame({"User-ID": users, "ISBN": [f"b{i}" for i in range(len(users))],
                          "label": rng.integers(0, 2, len(users))})
    return table.sample(frac=1.0, random_state=1).reset_index(drop=True)


def user_sets(parts) -> list[set[int]]:
    return [set(part["User-ID"]) for part in parts]


def test_no_user_is_in_two_splits_and_no_row_is_lost(ratings):
    parts = split_users(ratings, PARAMS)
    train, valid, test = user_sets(parts)
    assert not (train & valid or train & test or valid & test)
    assert sum(len(p) for p in parts) == len(ratings)
    assert pd.concat(parts).sort_values("ISBN").reset_index(drop=True).equals(
        ratings.sort_values("ISBN").reset_index(drop=True))


def test_user_shares_follow_the_parameters(ratings):
    assert [len(s) for s in user_sets(split_users(ratings, PARAMS))] == [700, 100, 200]
    other = {"seed": 2021, "shares": {"train": 0.5, "valid": 0.25, "test": 0.25}}
    assert [len(s) for s in user_sets(split_users(ratings, other))] == [500, 250, 250]


def test_same_seed_same_split_whatever_the_row_order(ratings):
    first = user_sets(split_users(ratings, PARAMS))
    shuffled = ratings.sample(frac=1.0, random_state=5)
    assert user_sets(split_users(shuffled, PARAMS)) == first


def test_other_seed_other_split(ratings):
    first = user_sets(split_users(ratings, PARAMS))
    second = user_sets(split_users(ratings, {**PARAMS, "seed": 7}))
    assert first[2] != second[2]


@pytest.mark.parametrize(
    "shares",
    [{"train": 0.7, "valid": 0.1, "test": 0.1},
     {"train": 0.8, "test": 0.2},
     {"train": 1.2, "valid": -0.4, "test": 0.2}],
)
def test_bad_shares_are_refused(ratings, shares):
    with pytest.raises(ValueError, match="data_split.shares"):
        split_users(ratings, {"seed": 1, "shares": shares})
