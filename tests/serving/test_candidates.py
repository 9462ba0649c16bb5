"""The candidate stage: which books, in which order, from train counts only."""

from __future__ import annotations

import ibis
import pytest

from book_recs.serving.candidates import CandidateConfig, select_candidates


@pytest.fixture
def train() -> ibis.Table:
    """Four readers. c: 3 ratings, 1 like; a: 2 ratings, 2 likes; b and d: 1 rating, 1 like
    each."""
    return ibis.memtable({"User-ID": [1, 2, 3, 1, 4, 4, 2],
                          "ISBN": ["c", "c", "c", "a", "a", "d", "b"],
                          "label": [1, 0, 0, 1, 1, 1, 1]})


@pytest.mark.parametrize(("rule", "expected"), [
    ("most_liked", ["a", "c", "b", "d"]),   # likes, then ratings; b and d tie on both: ISBN
    ("most_rated", ["c", "a", "b", "d"]),
])
def test_candidates_follow_the_rule_then_the_isbn(train, rule, expected):
    candidates = select_candidates(train, CandidateConfig(rule, k=10)).execute()
    assert candidates["ISBN"].tolist() == expected
    assert candidates["candidate_rank"].tolist() == [1, 2, 3, 4]


def test_only_k_candidates_are_kept(train):
    candidates = select_candidates(train, CandidateConfig("most_liked", k=2)).execute()
    assert candidates[["ISBN", "train_ratings", "train_likes", "read_share"]].values.tolist() == [
        ["a", 2, 2, 0.5], ["c", 3, 1, 0.75]]


@pytest.mark.parametrize("params", [{"rule": "most_read", "k": 5}, {"rule": "most_liked", "k": 0}])
def test_unknown_rules_and_empty_candidate_sets_are_refused(params):
    with pytest.raises(ValueError, match="candidate"):
        CandidateConfig.from_params(params)
