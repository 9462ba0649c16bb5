"""The recommendation nodes as plain functions on the tiny catalogue of tests/serving: the
candidates, the recommender built from the feature stage's tables, a batch request answered (and
refused with the error MLflow's scoring server turns into HTTP 400), and the top-N evaluation,
whose numbers are worked out by hand below."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from book_recs.baselines.popularity import PopularityRates
from book_recs.pipelines.recommendation.nodes import (
    build_recommender,
    evaluate_recommender,
    list_readers,
    recommend_books,
    select_candidate_books,
)
from book_recs.serving.candidates import CandidateConfig, select_candidates
from book_recs.serving.recommender import Recommender, RequestLimits
from tests.serving.conftest import PROFILE, RecentBooksModel

EVALUATION = {"bootstrap_resamples": 50, "bootstrap_seed": 0, "confidence": 0.95}
LIMITS = {"max_readers_per_request": 2, "max_isbns_per_reader": 3, "max_isbns_per_request": 4,
          "max_top_n": 4}


def feature_params(config) -> dict:
    """The ``feature_engineering`` parameters of a field configuration."""
    return {"numeric_fields": list(config.numeric_fields),
            "categorical_fields": list(config.categorical_fields),
            "user_fields": list(config.user_fields), "title_encoder": "fake-encoder",
            "title_device": "cpu", "pca_variance_share": config.pca_variance_share,
            "min_category_count": config.min_category_count,
            "item_statistic_keys": list(config.item_statistic_keys),
            "statistics_folds": config.statistics_folds, "seed": config.seed}


@pytest.fixture(scope="module")
def recommender(books, fitted, specs) -> Recommender:
    """Over the 4 most liked books (b4, b3, b2, b1; b0 is left out), by a model that prefers
    recent books: every reader's list is b4, b3, b2, b1."""
    candidates = select_candidate_books(books, {"rule": "most_liked", "k": 4})
    return build_recommender(
        candidates, books, fitted.title_components, fitted.statistics, fitted.priors,
        fitted.vocabularies, fitted.scaling, feature_params(fitted.config),
        RecentBooksModel(specs), default_top_n=2, ranking="like_probability", limits=LIMITS)


def test_candidates_are_the_k_books_of_the_rule(books):
    candidates = select_candidate_books(books, {"rule": "most_liked", "k": 2}).execute()
    assert candidates["ISBN"].tolist() == ["b4", "b3"]  # b4 liked by 5 readers, b3 by 4
    with pytest.raises(ValueError, match="candidate rule"):
        select_candidate_books(books, {"rule": "newest", "k": 2})


def test_the_node_builds_the_recommender_of_the_feature_stage(recommender, books, fitted, specs):
    assert recommender.candidates["ISBN"].tolist() == ["b4", "b3", "b2", "b1"]
    assert recommender.limits == RequestLimits(**LIMITS)
    direct = Recommender.build(fitted, books,
                               select_candidates(books, CandidateConfig("most_liked", 4)),
                               RecentBooksModel(specs), default_top_n=2,
                               limits=RequestLimits(**LIMITS))
    pd.testing.assert_frame_equal(recommender.item_features, direct.item_features)


def test_a_batch_request_is_answered_reader_by_reader(recommender):
    readers = list_readers([{**PROFILE, "exclude_isbns": ["b4"], "top_n": 3},
                            {"Age": None, "state": "ontario", "country": "canada"}])
    assert readers.columns.tolist() == ["Age", "state", "country", "exclude_isbns", "top_n"]
    answer = recommend_books(readers, recommender)
    assert answer["reader"].tolist() == [0, 0, 0, 1, 1]  # the second reader: default_top_n
    assert answer["ISBN"].tolist() == ["b3", "b2", "b1", "b4", "b3"]
    assert answer["note"].tolist()[2:4] == ["", "state 'ontario' is not in the training "
                                            "vocabulary (out-of-vocabulary id); country 'canada' "
                                            "is not in the training vocabulary (out-of-vocabulary "
                                            "id)"]


@pytest.mark.parametrize(("readers", "field"), [
    ([], "readers"),
    ([{"Age": 30.0, "country": "usa"}], "state"),
    ([{**PROFILE, "top_n": 5}], "top_n"),  # above the 4 candidates
    ([{**PROFILE, "Age": "old"}], "Age"),
    ([PROFILE] * 3, "readers"),  # above max_readers_per_request
])
def test_a_bad_request_becomes_mlflows_invalid_parameter_error(recommender, readers, field):
    with pytest.raises(MlflowException) as error:
        recommend_books(pd.DataFrame(readers), recommender)
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    assert error.value.get_http_status_code() == 400
    assert error.value.message.startswith(f"{field}: ")


def test_the_evaluation_counts_every_liked_book_of_the_catalogue(recommender, specs):
    """Top 2: the recommender shows b4, b3 to everyone; popularity (book rates below) b1, b2.
    Reader 10 liked b4 and not b3; reader 11 liked b1 and b0 (not a candidate); reader 12 liked
    nothing and is not counted."""
    ratings = pd.DataFrame({
        "User-ID": [10, 10, 11, 11, 12],
        "ISBN": ["b4", "b3", "b1", "b0", "b2"],
        "label": [1, 0, 1, 1, 0],
        **{field: [value] * 5 for field, value in PROFILE.items()},
    })
    popularity = PopularityRates("Book-Author", 0.5, pd.Series(dtype=float),
                                 pd.Series({"b1": 0.9, "b2": 0.8, "b3": 0.2, "b4": 0.1}))
    metrics = evaluate_recommender(recommender, ratings, ratings, popularity, {"top_n": 2},
                                   {"rule": "most_liked", "k": 4}, EVALUATION)
    assert metrics["candidates"] == {"rule": "most_liked", "k": 4}
    assert metrics["ranking"] == "like_probability"
    assert metrics["valid"] == metrics["test"]
    split = metrics["test"]
    assert (split["readers"], split["liked_books"]) == (2, 3)
    assert split["candidate_recall"] == pytest.approx(2 / 3)
    models = split["models"]
    # Reader 10: b4 first (nDCG@2 1, recall 1); reader 11: nothing (0, 0).
    assert models["finalmlp"]["ndcg@2"]["value"] == pytest.approx(0.5)
    assert models["finalmlp"]["recall@2"]["value"] == pytest.approx(0.5)
    assert models["candidate_order"] == models["finalmlp"]
    # Reader 10: nothing; reader 11: b1 first of two liked books: 1 / (1 + 1/log2(3)), recall 1/2.
    assert models["popularity"]["ndcg@2"]["value"] == pytest.approx(0.5 / (1 + 1 / 1.5849625))
    assert models["popularity"]["recall@2"]["value"] == pytest.approx(0.25)
    difference = split["finalmlp_minus"]["popularity"]["recall@2"]["difference"]
    assert difference == pytest.approx(0.25)
