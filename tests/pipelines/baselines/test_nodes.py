import numpy as np
import pandas as pd
import pytest

from book_recs.columns import KEY_COLUMNS
from book_recs.pipelines.baselines.nodes import (
    fit_popularity_rates,
    score_randomly,
    score_with_classifier,
    score_with_popularity,
    score_with_ranker,
    train_catboost_classifier,
    train_catboost_ranker,
)
from tests.baselines.frames import SPECS, catboost_params, make_model_input

TRAIN = make_model_input(n_users=20, books_per_user=6, seed=1)
VALID = make_model_input(n_users=6, books_per_user=6, seed=2, first_user=100)
TEST = make_model_input(n_users=6, books_per_user=6, seed=3, first_user=200)
POPULARITY = {"author_column": "Book-Author", "book_prior_strength": 5.0,
              "author_prior_strength": 5.0}


def _ranker_scores(rows):
    model, _ = train_catboost_ranker(TRAIN, VALID, SPECS, catboost_params(True, iterations=10))
    return score_with_ranker(model, rows)


def _classifier_scores(rows):
    model, _ = train_catboost_classifier(TRAIN, VALID, SPECS,
                                         catboost_params(False, iterations=10))
    return score_with_classifier(model, rows)


def _popularity_scores(rows):
    return score_with_popularity(fit_popularity_rates(TRAIN, POPULARITY), rows)


def _random_scores(rows):
    return score_randomly(rows, {"seed": 11})


SCORERS = {  # name -> (scorer, outputs a probability)
    "catboost_ranker": (_ranker_scores, False),
    "catboost_classifier": (_classifier_scores, True),
    "popularity": (_popularity_scores, True),
    "random": (_random_scores, False),
}


@pytest.mark.parametrize("name", SCORERS)
def test_scores_follow_the_contract(name):
    scorer, has_probability = SCORERS[name]
    scores = scorer(TEST)
    expected = [*KEY_COLUMNS, "score", *(["probability"] if has_probability else [])]
    assert list(scores.columns) == expected
    pd.testing.assert_frame_equal(scores[list(KEY_COLUMNS)], TEST[list(KEY_COLUMNS)])
    assert scores["score"].dtype == "float64" and scores["score"].notna().all()
    if has_probability:
        assert ((scores["probability"] > 0) & (scores["probability"] < 1)).all()
        assert np.array_equal(scores["score"], scores["probability"])


@pytest.mark.parametrize("name", SCORERS)
def test_a_rerun_gives_identical_scores(name):
    scorer, _ = SCORERS[name]
    pd.testing.assert_frame_equal(scorer(TEST), scorer(TEST))


def test_popularity_ignores_valid_and_test_labels():
    flipped = TEST.assign(label=1 - TEST["label"], **{"Book-Rating": 11 - TEST["Book-Rating"]})
    rates = fit_popularity_rates(TRAIN, POPULARITY)
    original = score_with_popularity(rates, TEST)["score"]
    assert np.array_equal(original, score_with_popularity(rates, flipped)["score"])


def test_random_scores_change_with_the_seed():
    assert not np.array_equal(score_randomly(TEST, {"seed": 1})["score"],
                              score_randomly(TEST, {"seed": 2})["score"])


def test_catboost_nodes_reject_an_unknown_parameter_by_name():
    with pytest.raises(ValueError, match="unknown \\['iteration'\\]"):
        train_catboost_classifier(TRAIN, VALID, SPECS, {**catboost_params(False), "iteration": 5})
