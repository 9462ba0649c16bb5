"""Feature nodes on hand-made splits: cache hits, train-only fitting, OOV, missing values, specs."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from book_recs.features import empty_title_cache, encoder_key, title_matrix
from book_recs.pipelines.feature_engineering.nodes import (
    build_feature_specs,
    build_model_input,
    build_train_model_input,
    fit_feature_transformers,
    update_title_embeddings,
)

from .conftest import make_ratings

CATEGORICAL = ["Book-Author", "Year-Of-Publication", "Publisher", "state", "country"]
FAKE_KEY, OTHER_KEY = encoder_key("fake-encoder", "cpu"), encoder_key("other-encoder", "cpu")


def all_ratings(splits):
    return pd.concat(splits.values(), ignore_index=True)


@pytest.fixture
def cache(splits, params, encoder):
    return update_title_embeddings(all_ratings(splits), empty_title_cache(), params)


@pytest.fixture
def transformers(splits, implicit, cache, params):
    return fit_feature_transformers(splits["train"], implicit, cache, params)


# ---------------------------------------------------------------- title-embedding cache
def test_each_unique_title_is_encoded_once(splits, params, encoder):
    ratings = all_ratings(splits)
    cache = update_title_embeddings(ratings, empty_title_cache(), params)
    assert sorted(encoder.encoded) == sorted(ratings["Book-Title"].unique())
    assert len(encoder.encoded) == 8 < len(ratings)
    assert cache[["encoder", "title"]].duplicated().sum() == 0


def test_rerun_encodes_nothing_and_new_titles_only_once(splits, params, encoder):
    cache = update_title_embeddings(all_ratings(splits), empty_title_cache(), params)
    encoder.encoded.clear()
    rerun = update_title_embeddings(all_ratings(splits), cache, params)
    assert encoder.encoded == []
    pd.testing.assert_frame_equal(rerun, cache)

    more = make_ratings([{"Book-Title": "New A"}, {"Book-Title": "New B"},
                         {"Book-Title": "New A"}, {"Book-Title": "Train title 0"}])
    grown = update_title_embeddings(more, rerun, params)
    assert sorted(encoder.encoded) == ["New A", "New B"]
    assert len(grown) == len(cache) + 2


def test_changed_encoder_name_reencodes_and_keeps_vectors_apart(splits, params, encoder):
    cache = update_title_embeddings(all_ratings(splits), empty_title_cache(), params)
    encoder.encoded.clear()
    other = update_title_embeddings(all_ratings(splits), cache,
                                    {**params, "title_encoder": "other-encoder"})
    assert len(encoder.encoded) == 8
    assert other.groupby("encoder")["title"].nunique().to_dict() == {FAKE_KEY: 8, OTHER_KEY: 8}
    titles = pd.Series(["Train title 0"])
    np.testing.assert_array_equal(title_matrix(other, FAKE_KEY, titles),
                                  title_matrix(cache, FAKE_KEY, titles))
    assert not np.allclose(title_matrix(other, OTHER_KEY, titles),
                           title_matrix(other, FAKE_KEY, titles))
    with pytest.raises(KeyError, match="unseen-encoder"):
        title_matrix(other, "unseen-encoder", titles)


def test_title_without_embedding_gives_nan_row(cache):
    matrix = title_matrix(cache, FAKE_KEY, pd.Series(["Train title 0", "never encoded"]))
    assert not np.isnan(matrix[0]).any()
    assert np.isnan(matrix[1]).all()


# ---------------------------------------------------------------- fitted on train only
def test_categories_seen_only_outside_train_map_to_oov(splits, cache, transformers):
    train = build_model_input(splits["train"], cache, transformers)
    valid = build_model_input(splits["valid"], cache, transformers)
    assert valid.loc[0, "Book-Author"] == 0  # author only in valid
    assert valid.loc[0, "Year-Of-Publication"] == 0  # year 2020 only in valid
    assert (train[CATEGORICAL] > 0).all().all()
    # Same value, same id across splits; the float year 1991.0 is the token "1991".
    assert valid.loc[1, "Book-Author"] == train.loc[1, "Book-Author"]
    assert valid.loc[1, "Year-Of-Publication"] == train.loc[1, "Year-Of-Publication"]
    assert transformers.vocab_sizes == {"Book-Author": 3, "Year-Of-Publication": 7,
                                        "Publisher": 2, "state": 3, "country": 2}


def test_numeric_scaling_uses_the_train_range_and_clips(splits, cache, transformers):
    train = build_model_input(splits["train"], cache, transformers)
    valid = build_model_input(splits["valid"], cache, transformers)
    # Train ages 20..40: if valid's 95 leaked into the fit, the train maximum would scale below 1.
    assert train["Age"].min() == 0.0 and train["Age"].max() == 1.0
    assert (valid["Age"] == 1.0).all()
    title_columns = [c for c in train.columns if c.startswith("Book-Title_")]
    assert train[title_columns].min().min() == 0.0 and train[title_columns].max().max() == 1.0
    assert valid[title_columns].to_numpy().min() >= 0.0
    assert valid[title_columns].to_numpy().max() <= 1.0


def test_title_pca_is_fitted_on_unique_train_titles_only(splits, cache, transformers):
    train_titles = pd.Series(splits["train"]["Book-Title"].unique())
    expected = PCA(n_components=0.8, svd_solver="full", random_state=2021).fit(
        title_matrix(cache, FAKE_KEY, train_titles))
    assert transformers.title_pca.n_samples_ == len(train_titles) == 6
    np.testing.assert_allclose(transformers.title_pca.components_, expected.components_)
    assert transformers.title_columns == [f"Book-Title_{i}" for i in range(expected.n_components_)]


# ---------------------------------------------------------------- transform-time robustness
def test_missing_values_are_imputed_or_unknown(splits, cache, transformers):
    test = build_model_input(splits["test"], cache, transformers)
    median_age = (splits["train"]["Age"].median() - 20.0) / (40.0 - 20.0)
    assert test.loc[0, "Age"] == pytest.approx(median_age)
    # Missing state/country/year become the token "unknown", which train never had: OOV.
    assert test.loc[0, ["state", "country", "Year-Of-Publication"]].tolist() == [0, 0, 0]
    assert test.loc[0, "Book-Author"] > 0


def test_missing_category_seen_in_train_gets_its_own_id(splits, implicit, params, cache):
    train = splits["train"].assign(state=["a", pd.NA, "b", pd.NA, "a", "b"])
    transformers = fit_feature_transformers(train, implicit, cache, params)
    test = build_model_input(splits["test"], cache, transformers)
    assert test.loc[0, "state"] == build_model_input(train, cache, transformers).loc[1, "state"]
    assert test.loc[0, "state"] > 0


def test_new_profile_with_unseen_everything_never_fails(splits, cache, transformers):
    profile = pd.DataFrame({"User-ID": [99, 99, 99], "ISBN": ["x", "b0", "y"],
                            "Book-Title": ["Title nobody encoded", "Train title 0", None],
                            "Book-Author": ["Nobody", "Herbert", None],
                            "Publisher": ["Ace", "Ace", "Ace"],
                            "Year-Of-Publication": [np.nan, 1990.0, 1991.0],
                            "Age": [np.nan, 200.0, 25.0],
                            "country": ["atlantis", "france", "france"]})  # no state, no rating
    model_input = build_model_input(profile, cache, transformers)
    assert list(model_input.columns[:2]) == ["User-ID", "ISBN"]
    assert not model_input.isna().any().any()
    # Unknown or missing titles get the train-median components, like any missing number.
    title_columns = [c for c in model_input.columns if c.startswith("Book-Title_")]
    np.testing.assert_array_equal(model_input.loc[0, title_columns],
                                  model_input.loc[2, title_columns])
    assert model_input.loc[0, ["Book-Author", "country", "state"]].tolist() == [0, 0, 0]
    assert model_input.loc[1, "Age"] == 1.0


def test_min_category_count_sends_rare_train_values_to_oov(splits, implicit, params, cache):
    transformers = fit_feature_transformers(splits["train"], implicit, cache,
                                            {**params, "min_category_count": 3})
    train = build_model_input(splits["train"], cache, transformers)
    is_le_guin = splits["train"]["Book-Author"] == "Le Guin"  # 2 of 6 rows; Herbert has 4
    assert (train.loc[is_le_guin, "Book-Author"] == 0).all()
    assert (train.loc[~is_le_guin, "Book-Author"] == 1).all()
    assert transformers.vocab_sizes["Book-Author"] == 2
    assert transformers.vocab_sizes["Year-Of-Publication"] == 1  # every year is rare: OOV only
    assert (train["Year-Of-Publication"] == 0).all()


# ---------------------------------------------------------------- feature specs
def test_feature_specs_describe_the_model_input_columns(splits, cache, params, transformers):
    specs = build_feature_specs(transformers, params)
    model_input = build_model_input(splits["valid"], cache, transformers)
    assert list(model_input.columns[:4]) == ["User-ID", "ISBN", "Book-Rating", "label"]
    assert [s.name for s in specs] == list(model_input.columns[4:])
    for spec in specs:
        column = model_input[spec.name]
        if spec.kind == "numeric":
            assert column.dtype == np.float32 and spec.vocab_size == 0
        else:
            assert column.dtype == np.int64 and 0 <= column.min() and column.max() < spec.vocab_size
    assert {s.name for s in specs if s.context == "user"} == {"Age", "state", "country"}


def test_unknown_user_field_is_rejected(transformers):
    with pytest.raises(ValueError, match="Agee"):
        transformers.feature_specs(["Agee"])


def test_year_can_be_numeric_as_well_as_categorical(splits, implicit, params, cache):
    params = {**params, "numeric_fields": ["Age", "Year-Of-Publication"]}
    transformers = fit_feature_transformers(splits["train"], implicit, cache, params)
    specs = {s.name: s for s in build_feature_specs(transformers, params)}
    assert specs["Year-Of-Publication_numeric"].kind == "numeric"
    assert specs["Year-Of-Publication"].kind == "categorical"
    years = build_model_input(splits["train"], cache, transformers)["Year-Of-Publication_numeric"]
    np.testing.assert_allclose(years, np.arange(6) / 5, rtol=1e-6)


def test_pickled_transformers_transform_identically(splits, cache, transformers):
    restored = pickle.loads(pickle.dumps(transformers))
    pd.testing.assert_frame_equal(build_model_input(splits["valid"], cache, restored),
                                  build_model_input(splits["valid"], cache, transformers))


# ---------------------------------------------------------------- item statistics
def test_item_statistics_are_out_of_fold_on_train_and_label_free_elsewhere(
        splits, implicit, cache, params):
    params = {**params, "item_statistic_keys": ["ISBN", "Book-Author"], "statistics_folds": 2}
    train_rows = splits["train"].assign(**{"User-ID": range(1, 7)})  # 6 users for 2 folds
    transformers = fit_feature_transformers(train_rows, implicit, cache, params)
    statistics = [f"{key}_{statistic}" for key in ("ISBN", "Book-Author")
                  for statistic in ("log_count", "like_rate", "mean_rating", "mean_deviation",
                                    "log_implicit_count", "implicit_share")]
    specs = build_feature_specs(transformers, params)
    assert [s.name for s in specs if s.name in statistics] == statistics
    assert all(s.context == "item" and s.kind == "numeric" for s in specs if s.name in statistics)

    train = build_train_model_input(train_rows, cache, transformers)
    assert [s.name for s in specs] == list(train.columns[4:])
    # Each train book is rated once: out of fold, no book has been seen (count 0) ...
    assert (train["ISBN_log_count"] == 0).all()
    # ... while a full-train transform of the same rows would see each book once.
    assert (build_model_input(train_rows, cache, transformers)["ISBN_log_count"] > 0).all()

    valid = build_model_input(splits["valid"], cache, transformers)
    assert valid.loc[0, "ISBN_log_count"] == 0 < valid.loc[1, "ISBN_log_count"]  # v1 unseen, b1 seen
    # Train user 1 holds v1 unrated; b0, held by a user outside train, counts nothing.
    assert valid.loc[0, "ISBN_log_implicit_count"] > 0
    assert (build_model_input(splits["train"], cache, transformers)["ISBN_log_implicit_count"] == 0).all()
    flipped = splits["valid"].assign(label=1 - splits["valid"]["label"], **{"Book-Rating": 1})
    pd.testing.assert_frame_equal(
        build_model_input(flipped, cache, transformers)[statistics], valid[statistics])
