"""The recommender on a tiny catalogue: answers, their order, left-out books, bad requests, notes,
and that its scores are the model's scores of the feature stage's own model input."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import ibis
import numpy as np
import pandas as pd
import pytest
import torch

from book_recs.features.model_input import ORDER_COLUMN
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.inference import predict_frame
from book_recs.serving.candidates import CandidateConfig, select_candidates
from book_recs.serving.recommender import (
    ANSWER_COLUMNS,
    InvalidRequest,
    Recommender,
    RequestLimits,
)
from tests.serving.conftest import LIMITS, PROFILE, YEARS, FixedModel, RecentBooksModel


def sigmoid(logits: list[float]) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(logits)))


def make_recommender(fitted, books, model, k: int = 5, default_top_n: int = 3,
                     limits: RequestLimits = LIMITS) -> Recommender:
    return Recommender.build(fitted, books, select_candidates(books, CandidateConfig("most_liked", k)),
                             model, default_top_n, limits=limits)


@pytest.fixture(scope="module")
def recent(fitted, books, specs) -> Recommender:
    return make_recommender(fitted, books, RecentBooksModel(specs))


def readers(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**PROFILE, **row} for row in rows])


def test_a_reader_gets_the_best_books_first_cut_at_top_n_and_never_a_left_out_one(recent):
    answer = recent.recommend(readers({"exclude_isbns": ["b3"], "top_n": 3}))
    assert list(answer.columns) == ANSWER_COLUMNS
    assert answer["ISBN"].tolist() == ["b4", "b2", "b1"]
    assert answer["rank"].tolist() == [1, 2, 3]
    assert answer["reader"].tolist() == [0, 0, 0]
    assert answer["Book-Title"].tolist() == ["Title b4", "Title b2", "Title b1"]
    assert answer["Book-Author"].tolist() == ["Author b4", "Author b2", "Author b1"]
    # Year ids 1..5 for 1990..1994: the score is sigmoid(id).
    np.testing.assert_allclose(answer["score"], sigmoid([5, 3, 2]), rtol=1e-6)
    assert answer["note"].eq("").all()


def test_each_reader_of_a_request_gets_an_answer_with_the_default_top_n(fitted, books, specs):
    recommender = Recommender.build(
        fitted, books, select_candidates(books, CandidateConfig("most_liked", 5)),
        RecentBooksModel(specs), default_top_n=2, limits=LIMITS)
    answer = recommender.recommend(readers({"top_n": 1}, {"exclude_isbns": ["b4", "b0"]}, {}))
    assert answer["reader"].tolist() == [0, 1, 1, 2, 2]
    assert answer["ISBN"].tolist() == ["b4", "b3", "b2", "b4", "b3"]


def test_expected_like_weighs_the_like_probability_by_the_read_share(fitted, books, specs):
    """b4 is the most likely to be liked, but few readers read it."""
    shares = {"b4": 0.1, "b3": 0.9, "b2": 0.5, "b1": 0.5, "b0": 0.5}
    candidates = ibis.memtable({"ISBN": list(shares), "read_share": list(shares.values()),
                                "candidate_rank": [1, 2, 3, 4, 5]})
    recommender = Recommender.build(fitted, books, candidates, RecentBooksModel(specs),
                                    default_top_n=5, ranking="expected_like", limits=LIMITS)
    answer = recommender.recommend(readers({"top_n": 5}))
    assert answer["ISBN"].tolist() == ["b3", "b2", "b1", "b0", "b4"]
    np.testing.assert_allclose(answer["score"], sigmoid([4, 3, 2, 1, 5]) * [0.9, 0.5, 0.5, 0.5, 0.1],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="ranking must be one of"):
        Recommender.build(fitted, books, candidates, RecentBooksModel(specs), default_top_n=5,
                          ranking="newest", limits=LIMITS)


def test_equal_scores_come_in_isbn_order(fitted, books, specs):
    class Indifferent(FixedModel):
        def forward(self, batch):
            return torch.zeros(len(batch["numeric"]))

    answer = make_recommender(fitted, books, Indifferent(specs)).recommend(readers({"top_n": 5}))
    assert answer["ISBN"].tolist() == sorted(YEARS)
    assert answer["score"].eq(0.5).all()


def test_the_age_reaches_the_model_and_a_missing_age_is_the_train_median(fitted, books, specs):
    recommender = make_recommender(fitted, books, RecentBooksModel(specs, age_weight=1.0))
    older, younger, unknown, median = (
        recommender.recommend(readers({"Age": age}))["score"].to_numpy()
        for age in (60.0, 20.0, None, 40.0))  # readers aged 20..60, one per decade: median 40
    assert (older > younger).all()
    np.testing.assert_array_equal(unknown, median)


def test_only_the_k_candidates_are_ranked(fitted, books, specs):
    recommender = make_recommender(fitted, books, RecentBooksModel(specs), k=2, default_top_n=2)
    assert recommender.candidates["ISBN"].tolist() == ["b4", "b3"]  # the most liked
    assert recommender.recommend(readers({"top_n": 2}))["ISBN"].tolist() == ["b4", "b3"]
    with pytest.raises(InvalidRequest, match="top_n: .* from 1 to 2"):
        recommender.recommend(readers({"top_n": 3}))


@pytest.mark.parametrize(("request_rows", "field"), [
    ([], "readers"),
    ([{"Age": 30.0, "state": "texas"}], "country"),
    ([{"Age": "thirty", "state": "texas", "country": "usa"}], "Age"),
    ([{"Age": 30.0, "state": 5, "country": "usa"}], "state"),
    ([{**PROFILE, "top_n": 0}], "top_n"),
    ([{**PROFILE, "top_n": 2.5}], "top_n"),
    ([{**PROFILE, "top_n": 6}], "top_n"),
    ([{**PROFILE, "exclude_isbns": "b1"}], "exclude_isbns"),
    ([{**PROFILE, "exclude_isbns": [1]}], "exclude_isbns"),
])
def test_a_bad_request_is_refused_naming_the_field(recent, request_rows, field):
    with pytest.raises(InvalidRequest) as error:
        recent.recommend(pd.DataFrame(request_rows))
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")


def test_unknown_places_and_isbns_are_answered_with_a_note(recent):
    known = recent.recommend(readers({}))
    answer = recent.recommend(readers({"state": "atlantis", "country": "oz", "Age": 120.0,
                                       "exclude_isbns": ["nowhere", "b4"], "top_n": 5}))
    assert answer["ISBN"].tolist() == ["b3", "b2", "b1", "b0"]  # b4 left out, nothing else lost
    note = answer["note"].iloc[0]
    assert "state 'atlantis' is not in the training vocabulary" in note
    assert "country 'oz' is not in the training vocabulary" in note
    assert "Age 120 is outside the train range [20, 60]" in note
    assert "left-out ISBNs not in the catalogue: 1 ('nowhere')" in note
    assert "only 4 candidates are left" in note
    assert answer["note"].iloc[1:].eq("").all()  # the reader's first row only
    assert known["note"].eq("").all()


@pytest.mark.parametrize(("changes", "pairwise"), [
    ({}, True),
    ({"exclude_fields": ("Book-Title_*", "state")}, True),
    ({"fs1_context": ("Age", "Book-Author")}, False),  # a gate of both sides: row by row
])
def test_scores_are_the_models_scores_of_the_feature_stages_model_input(fitted, books, specs,
                                                                        changes, pairwise):
    """The readers' scores are the model's scores of the rows ``FittedFeatures.build`` makes of
    the same (reader, book) pairs, also when the model leaves fields of either side unread;
    computed per side (``pair_logits``) when the model's gates allow it, else row by row."""
    torch.manual_seed(0)
    model = FinalMLP(specs, FinalMLPConfig(embedding_dim=4, mlp1_hidden_units=(8,),
                                           mlp2_hidden_units=(8,), fs_hidden_units=(8,),
                                           num_heads=2, **changes))
    recommender = make_recommender(fitted, books, model)
    assert recommender.pairwise == pairwise
    profiles = [PROFILE, {"Age": None, "state": "texas", "country": "usa"},
                {"Age": 55.0, "state": "atlantis", "country": None}]
    answer = recommender.recommend(pd.DataFrame(profiles).assign(top_n=5))
    catalogue = books.select("ISBN", "Book-Title", "Book-Author", "Year-Of-Publication",
                             "Publisher").distinct().execute()
    rows = pd.concat([catalogue.assign(reader=reader, **profile)
                      for reader, profile in enumerate(profiles)], ignore_index=True)
    rows = rows.astype({"Age": "float64", "state": "str", "country": "str"})
    rows[ORDER_COLUMN] = np.arange(len(rows))
    model_input = fitted.build(ibis.memtable(rows)).execute()
    expected = rows[["reader", "ISBN"]].assign(expected=predict_frame(model, model_input))
    compared = answer.merge(expected, on=["reader", "ISBN"])
    assert len(compared) == len(answer) == 15
    np.testing.assert_allclose(compared["score"], compared["expected"], rtol=1e-6)


def test_the_user_side_is_the_feature_stages_to_the_bit(fitted, books, specs):
    """``user_features`` (a lookup tabulated once, and the fitted constants in numpy) gives what
    ``FittedFeatures.build(side="user")`` gives: every vocabulary token, missing places (the
    token "unknown", which has an id of its own here) and unseen ones, missing, fractional and
    out-of-range ages."""
    vocabularies = pd.concat([fitted.vocabularies.execute(), pd.DataFrame(
        {"field": ["state"], "token": ["unknown"], "id": [7]})], ignore_index=True)
    fitted = dataclasses.replace(fitted, vocabularies=ibis.memtable(vocabularies))
    recommender = make_recommender(fitted, books, RecentBooksModel(specs))
    places = [*vocabularies["token"], None, "unknown", "atlantis", "", "bayern ü"]
    ages = [np.nan, 0.0, 20.0, 34.5, 60.0, 61.0, -5.0, 1e9, np.inf, -np.inf, 33.333333333]
    count = len(places) * len(ages)
    profiles = pd.DataFrame({
        "Age": [ages[i % len(ages)] for i in range(count)],
        "state": pd.array([places[i % len(places)] for i in range(count)], dtype="str"),
        "country": pd.array([places[(i // len(ages)) % len(places)] for i in range(count)],
                            dtype="str"),
        ORDER_COLUMN: np.arange(count, dtype=np.int64)})
    expected = fitted.build(ibis.memtable(profiles), side="user").execute()
    assert set(expected["state"]) == {0, 1, 2, 7} and expected["Age"].nunique() >= 5
    pd.testing.assert_frame_equal(recommender.user_features(profiles), expected, check_exact=True)


def test_a_pickled_recommender_answers_alike_and_is_never_copied(recent):
    request = readers({"exclude_isbns": ["b2"]}, {"Age": None, "state": "texas"})
    restored = pickle.loads(pickle.dumps(recent))
    pd.testing.assert_frame_equal(restored.recommend(request), recent.recommend(request))
    assert restored.limits == recent.limits == LIMITS
    assert copy.deepcopy(recent) is recent


SMALL = RequestLimits(max_readers_per_request=3, max_isbns_per_reader=4, max_isbns_per_request=6,
                      max_top_n=2)


@pytest.fixture(scope="module")
def small(fitted, books, specs) -> Recommender:
    """The 5 books, with limits small enough to meet in a test."""
    return make_recommender(fitted, books, RecentBooksModel(specs), default_top_n=2, limits=SMALL)


@pytest.mark.parametrize(("just_under", "beyond", "field", "limit"), [
    ([{}] * 3, [{}] * 4, "readers", "above the limit max_readers_per_request = 3, got 4"),
    ([{"exclude_isbns": ["b0"] * 4}], [{"exclude_isbns": ["b0"] * 5}], "exclude_isbns",
     "reader 0: above the limit max_isbns_per_reader = 4, got 5"),
    ([{"exclude_isbns": ["b0"] * 3}] * 2, [{"exclude_isbns": ["b0"] * 3}, {},
                                           {"exclude_isbns": ["b0"] * 4}],
     "exclude_isbns+library", "above the limit max_isbns_per_request = 6, got 7"),
    ([{"top_n": 2}], [{}, {"top_n": 3}], "top_n",
     "reader 1: must be a whole number from 1 to 2 (the limit max_top_n = 2), got 3.0"),
])
def test_a_request_beyond_a_limit_is_refused_naming_it_and_one_just_under_is_answered(
        small, just_under, beyond, field, limit):
    assert small.recommend(readers(*just_under))["reader"].nunique() == len(just_under)
    with pytest.raises(InvalidRequest) as error:
        small.recommend(readers(*beyond))
    assert error.value.field == field
    assert str(error.value) == f"{field}: {limit}"


def test_the_candidate_count_bounds_top_n_below_the_limit(fitted, books, specs):
    recommender = make_recommender(fitted, books, RecentBooksModel(specs), k=2, default_top_n=2,
                                   limits=SMALL)  # max_top_n 2, 2 candidates
    with pytest.raises(InvalidRequest, match=r"from 1 to 2 \(the candidate count and the limit "
                                             r"max_top_n = 2\), got 3"):
        recommender.recommend(readers({"top_n": 3}))


def test_the_evaluation_ranks_more_readers_than_a_request_may_hold(small):
    many = readers(*[{}] * 5)
    with pytest.raises(InvalidRequest, match="max_readers_per_request"):
        small.recommend(many)
    answer = small.recommend(many, check_limits=False)
    assert answer["reader"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_a_note_and_a_message_stay_short_whatever_the_request_holds(fitted, books, specs):
    roomy = make_recommender(fitted, books, RecentBooksModel(specs), limits=RequestLimits(
        max_readers_per_request=1, max_isbns_per_reader=10_000, max_isbns_per_request=10_000,
        max_top_n=5))
    unknown = [f"unknown-{number:05d}" for number in range(10_000)]
    answer = roomy.recommend(readers({"exclude_isbns": unknown, "state": "x" * 10_000,
                                      "top_n": 5}))
    note = answer["note"].iloc[0]
    assert ("left-out ISBNs not in the catalogue: 10,000 (the first 5: 'unknown-00000', "
            "'unknown-00001', 'unknown-00002', 'unknown-00003', 'unknown-00004')") in note
    assert "state 'xxx" in note
    assert len(note) < 400
    assert answer["note"].iloc[1:].eq("").all()
    with pytest.raises(InvalidRequest) as error:
        roomy.recommend(readers({"exclude_isbns": list(range(10_000))}))
    assert str(error.value).startswith("exclude_isbns: reader 0: must be a list of ISBNs as text")
    assert len(str(error.value)) < 200


@pytest.mark.parametrize("value", [0, -1, 2.5, True, None])
def test_a_limit_is_a_whole_number_from_one(value):
    with pytest.raises(ValueError, match="max_top_n must be a whole number from 1"):
        RequestLimits(max_readers_per_request=1, max_isbns_per_reader=1, max_isbns_per_request=1,
                      max_top_n=value)
