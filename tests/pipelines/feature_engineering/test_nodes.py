"""Feature nodes on hand-made splits: cache hits, train-only fitting, OOV, missing values, specs,
item statistics, and that a title's components and a split's model input are reproducible.

Each fitted stage and each model input is computed once per session (``conftest.fit_stage``):
compiling the wide model-input expression is what costs time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from book_recs.columns import KEY_COLUMNS
from book_recs.features import (
    add_title_embeddings,
    empty_title_cache,
    encoder_key,
    statistic_columns,
    title_matrix,
)
from book_recs.features.title_components import PROJECTION_BLOCK
from book_recs.pipelines.feature_engineering.nodes import (
    build_feature_specs,
    project_titles,
    update_title_embeddings,
)

from .conftest import CountingEncoder, fit_stage

CATEGORICAL = ["Book-Author", "Year-Of-Publication", "Publisher", "state", "country"]
ALL_TITLES = [*[f"Train title {i}" for i in range(6)], "Valid only title", "Test only title"]
FAKE_KEY, OTHER_KEY = encoder_key("fake-encoder", "cpu"), encoder_key("other-encoder", "cpu")


@pytest.fixture(scope="module")
def model_inputs(stage, splits) -> dict[str, pd.DataFrame]:
    """The model input of each split, train's as ``build_model_input_train`` makes it."""
    return {"train": stage.build_train(splits["train"]),
            "valid": stage.build(splits["valid"]), "test": stage.build(splits["test"])}


def vocab_sizes(specs) -> dict[str, int]:
    return {s.name: s.vocab_size for s in specs if s.kind == "categorical"}


def vocabulary_ids(stage, field: str) -> list[int]:
    """The ids ``fit_vocabularies`` gave a field's tokens (none: every value is OOV)."""
    vocabularies = stage.vocabularies.to_pandas()
    return sorted(vocabularies.loc[vocabularies["field"] == field, "id"])


# ---------------------------------------------------------------- title-embedding cache
def test_titles_are_listed_once_in_order_of_first_appearance(stage):
    assert stage.titles["Book-Title"].tolist() == ALL_TITLES
    assert stage.train_titles["Book-Title"].tolist() == ALL_TITLES[:6]


def test_each_unique_title_is_encoded_once(stage, params, encoder: CountingEncoder):
    cache = update_title_embeddings(stage.titles, empty_title_cache(), params)
    assert sorted(encoder.encoded) == sorted(ALL_TITLES)  # 8 titles, once each
    assert cache[["encoder", "title"]].duplicated().sum() == 0


def test_rerun_encodes_nothing_and_new_titles_only_once(stage, params, encoder):
    cache = update_title_embeddings(stage.titles, empty_title_cache(), params)
    encoder.encoded.clear()
    rerun = update_title_embeddings(stage.titles, cache, params)
    assert encoder.encoded == []
    pd.testing.assert_frame_equal(rerun, cache)

    more = pd.DataFrame({"Book-Title": ["New A", "New B", "New A", "Train title 0"]})
    grown = update_title_embeddings(more, rerun, params)
    assert sorted(encoder.encoded) == ["New A", "New B"]
    assert len(grown) == len(cache) + 2


def test_changed_encoder_name_reencodes_and_keeps_vectors_apart(stage, params, encoder):
    cache = update_title_embeddings(stage.titles, empty_title_cache(), params)
    encoder.encoded.clear()
    other = update_title_embeddings(stage.titles, cache, {**params, "title_encoder": "other-encoder"})
    assert len(encoder.encoded) == 8
    assert other.groupby("encoder")["title"].nunique().to_dict() == {FAKE_KEY: 8, OTHER_KEY: 8}
    titles = pd.Series(["Train title 0"])
    np.testing.assert_array_equal(title_matrix(other, FAKE_KEY, titles),
                                  title_matrix(cache, FAKE_KEY, titles))
    assert not np.allclose(title_matrix(other, OTHER_KEY, titles),
                           title_matrix(other, FAKE_KEY, titles))
    with pytest.raises(KeyError, match="unseen-encoder"):
        title_matrix(other, "unseen-encoder", titles)


def test_title_without_embedding_gives_nan_row(stage):
    matrix = title_matrix(stage.cache, FAKE_KEY, pd.Series(["Train title 0", "never encoded"]))
    assert not np.isnan(matrix[0]).any()
    assert np.isnan(matrix[1]).all()


# ---------------------------------------------------------------- title components
def test_title_pca_is_fitted_on_unique_train_titles_only(stage):
    expected = PCA(n_components=0.8, svd_solver="full", random_state=2021).fit(
        title_matrix(stage.cache, FAKE_KEY, pd.Series(ALL_TITLES[:6])))
    assert stage.title_pca.n_samples_ == 6
    np.testing.assert_allclose(stage.title_pca.components_, expected.components_)
    components = [f"Book-Title_{i}" for i in range(expected.n_components_)]
    assert list(stage.title_components.columns) == ["Book-Title", *components]
    assert [s.name for s in stage.specs if s.name.startswith("Book-Title_")] == components


def test_a_titles_components_do_not_depend_on_the_titles_projected_with_it(stage, params):
    """Blocks of PROJECTION_BLOCK rows: the same bytes alone, first, or in a later block."""
    others = [f"Other title {i}" for i in range(PROJECTION_BLOCK + 40)]
    cache = add_title_embeddings(stage.cache, others, FAKE_KEY, CountingEncoder)
    title = "Valid only title"

    def components_of(titles: list[str]) -> bytes:
        projected = project_titles(pd.DataFrame({"Book-Title": titles}), cache, stage.title_pca,
                                   params)
        assert projected["Book-Title"].tolist() == titles
        return projected.loc[projected["Book-Title"] == title].drop(columns="Book-Title") \
            .to_numpy().tobytes()

    alone = components_of([title])
    assert components_of([title, *others]) == alone
    assert components_of([*others, "never encoded", title]) == alone  # past the first block
    assert components_of([*others[:3], title, "never encoded"]) == alone
    assert not np.isnan(np.frombuffer(alone)).any()


# ---------------------------------------------------------------- fitted on train only
def test_categories_seen_only_outside_train_map_to_oov(stage, model_inputs):
    train, valid = model_inputs["train"], model_inputs["valid"]
    assert valid.loc[0, "Book-Author"] == 0  # author only in valid
    assert valid.loc[0, "Year-Of-Publication"] == 0  # year 2020 only in valid
    assert (train[CATEGORICAL] > 0).all().all()
    # Same value, same id across splits; the float year 1991.0 is the token "1991".
    assert valid.loc[1, "Book-Author"] == train.loc[1, "Book-Author"]
    assert valid.loc[1, "Year-Of-Publication"] == train.loc[1, "Year-Of-Publication"]
    assert vocab_sizes(stage.specs) == {"Book-Author": 3, "Year-Of-Publication": 7,
                                        "Publisher": 2, "state": 3, "country": 2}


def test_numeric_scaling_uses_the_train_range_and_clips(model_inputs):
    train, valid = model_inputs["train"], model_inputs["valid"]
    # Train ages 20..40: if valid's 95 leaked into the fit, the train maximum would scale below 1.
    assert train["Age"].min() == 0.0 and train["Age"].max() == 1.0
    assert (valid["Age"] == 1.0).all()
    title_columns = [c for c in train.columns if c.startswith("Book-Title_")]
    assert train[title_columns].min().min() == 0.0 and train[title_columns].max().max() == 1.0
    assert valid[title_columns].to_numpy().min() >= 0.0
    assert valid[title_columns].to_numpy().max() <= 1.0


# ---------------------------------------------------------------- transform-time robustness
def test_missing_values_are_imputed_or_unknown(splits, model_inputs):
    test = model_inputs["test"]
    median_age = (splits["train"]["Age"].median() - 20.0) / (40.0 - 20.0)
    assert test.loc[0, "Age"] == pytest.approx(median_age)
    # Missing state/country/year become the token "unknown", which train never had: OOV.
    assert test.loc[0, ["state", "country", "Year-Of-Publication"]].tolist() == [0, 0, 0]
    assert test.loc[0, "Book-Author"] > 0


def test_missing_category_seen_in_train_gets_its_own_id(splits, implicit, params):
    train = splits["train"].assign(state=pd.Series(["a", None, "b", None, "a", "b"], dtype="str"))
    stage = fit_stage({**splits, "train": train}, implicit, params)
    both = stage.build(pd.concat([train, splits["test"]], ignore_index=True))  # test row last
    assert both.loc[6, "state"] == both.loc[1, "state"] > 0
    assert both.loc[0, "state"] != both.loc[1, "state"]


def test_new_profile_with_unseen_everything_never_fails(stage):
    profile = pd.DataFrame({"User-ID": [99, 99, 99], "ISBN": ["x", "b0", "y"],
                            "Book-Title": ["Title nobody encoded", "Train title 0", None],
                            "Book-Author": ["Nobody", "Herbert", None],
                            "Publisher": ["Ace", "Ace", "Ace"],
                            "Year-Of-Publication": [np.nan, 1990.0, 1991.0],
                            "Age": [np.nan, 200.0, 25.0],
                            "country": ["atlantis", "france", "france"]})
    # No state, no rating, no label, no row order: the rows come back in some order.
    model_input = stage.build(profile)
    assert list(model_input.columns[:2]) == ["User-ID", "ISBN"]
    model_input = model_input.set_index("ISBN").loc[["x", "b0", "y"]]
    assert len(model_input) == 3 and not model_input.isna().any().any()
    # Unknown or missing titles get the train-median components, like any missing number.
    title_columns = [c for c in model_input.columns if c.startswith("Book-Title_")]
    np.testing.assert_array_equal(model_input.loc["x", title_columns],
                                  model_input.loc["y", title_columns])
    assert model_input.loc["x", ["Book-Author", "country", "state"]].tolist() == [0, 0, 0]
    assert model_input.loc["b0", "Age"] == 1.0


def test_min_category_count_sends_rare_train_values_to_oov(splits, implicit, params):
    stage = fit_stage(splits, implicit, {**params, "min_category_count": 3})
    train = stage.build(splits["train"])
    is_le_guin = splits["train"]["Book-Author"] == "Le Guin"  # 2 of 6 rows; Herbert has 4
    assert (train.loc[is_le_guin, "Book-Author"] == 0).all()
    assert (train.loc[~is_le_guin, "Book-Author"] == 1).all()
    assert vocabulary_ids(stage, "Book-Author") == [1]
    assert vocabulary_ids(stage, "Year-Of-Publication") == []  # every year is rare: OOV only
    assert (train["Year-Of-Publication"] == 0).all()
    # A field left with the OOV id alone is no field: the schema refuses it, naming it.
    with pytest.raises(ValueError, match="Year-Of-Publication"):
        stage.specs


# ---------------------------------------------------------------- feature specs
def test_feature_specs_describe_the_model_input_columns(stage, model_inputs):
    for split, model_input in model_inputs.items():
        assert list(model_input.columns[:4]) == list(KEY_COLUMNS), split
        assert [s.name for s in stage.specs] == list(model_input.columns[4:]), split
        for spec in stage.specs:
            column = model_input[spec.name]
            if spec.kind == "numeric":
                assert column.dtype == np.float32 and spec.vocab_size == 0
            else:
                assert column.dtype == np.int64
                assert 0 <= column.min() and column.max() < spec.vocab_size
    assert {s.name for s in stage.specs if s.context == "user"} == {"Age", "state", "country"}


def test_unknown_user_field_is_rejected(stage, params):
    with pytest.raises(ValueError, match="Agee"):
        build_feature_specs(stage.vocabularies.to_pandas(), stage.scaling,
                            {**params, "user_fields": ["Age", "Agee"]})


def test_year_can_be_numeric_as_well_as_categorical(splits, implicit, params):
    stage = fit_stage(splits, implicit, {**params, "numeric_fields": ["Age", "Year-Of-Publication"]})
    specs = {s.name: s for s in stage.specs}
    assert specs["Year-Of-Publication_numeric"].kind == "numeric"
    assert specs["Year-Of-Publication"].kind == "categorical"
    years = stage.build(splits["train"])["Year-Of-Publication_numeric"]
    np.testing.assert_allclose(years, np.arange(6) / 5, rtol=1e-6)


# ---------------------------------------------------------------- item statistics
STATISTICS = statistic_columns(["ISBN", "Book-Author"])


@pytest.fixture(scope="module")
def statistics_stage(splits, implicit, params):
    """The stage with item statistics of ISBN and Book-Author (2 user folds)."""
    return fit_stage(splits, implicit,
                     {**params, "item_statistic_keys": ["ISBN", "Book-Author"]})


@pytest.fixture(scope="module")
def statistics_inputs(statistics_stage, splits) -> dict[str, pd.DataFrame]:
    """Train rows out of fold; then, in one build: train rows with all-train statistics, valid,
    and valid with flipped labels and ratings."""
    train, valid = splits["train"], splits["valid"]
    flipped = valid.assign(label=1 - valid["label"], **{"Book-Rating": 1},
                           row_order=valid["row_order"] + 1000)
    rows = statistics_stage.build(pd.concat([train, valid, flipped], ignore_index=True))
    return {"train_out_of_fold": statistics_stage.build_train(train),
            "train": rows.iloc[:6].reset_index(drop=True),
            "valid": rows.iloc[6:8].reset_index(drop=True),
            "flipped": rows.iloc[8:].reset_index(drop=True)}


def test_item_statistics_are_fields_of_the_item_side(statistics_stage, statistics_inputs):
    specs = statistics_stage.specs
    assert [s.name for s in specs if s.name in STATISTICS] == STATISTICS
    assert all(s.context == "item" and s.kind == "numeric" for s in specs if s.name in STATISTICS)
    for model_input in statistics_inputs.values():
        assert [s.name for s in specs] == list(model_input.columns[4:])


def test_item_statistics_are_out_of_fold_on_train(statistics_inputs):
    # Each train book is rated once: out of fold, no book has been seen (count 0) ...
    assert (statistics_inputs["train_out_of_fold"]["ISBN_log_count"] == 0).all()
    # ... while the all-train statistics of the same rows see each book once.
    assert (statistics_inputs["train"]["ISBN_log_count"] > 0).all()


def test_item_statistics_elsewhere_are_label_free_and_count_train_users_only(statistics_inputs):
    valid = statistics_inputs["valid"]
    assert valid.loc[0, "ISBN_log_count"] == 0 < valid.loc[1, "ISBN_log_count"]  # v1 unseen, b1 seen
    # Train user 1 holds v1 unrated; b0, held by a user outside train, counts nothing.
    assert valid.loc[0, "ISBN_log_implicit_count"] > 0
    assert (statistics_inputs["train"]["ISBN_log_implicit_count"] == 0).all()
    pd.testing.assert_frame_equal(statistics_inputs["flipped"][STATISTICS], valid[STATISTICS])


# ---------------------------------------------------------------- determinism
def test_model_input_is_identical_across_two_builds(splits, statistics_stage,
                                                    statistics_inputs, implicit):
    """A second fit and build from the rows in another order give the same bytes."""
    shuffled = {name: frame.sample(frac=1.0, random_state=3) for name, frame in
                splits.items()}
    again = fit_stage(shuffled, implicit.iloc[::-1], statistics_stage.params,
                      cache=statistics_stage.cache)
    pd.testing.assert_frame_equal(again.title_components, statistics_stage.title_components)
    pd.testing.assert_frame_equal(again.scaling, statistics_stage.scaling)
    pd.testing.assert_frame_equal(again.build_train(shuffled["train"]),
                                  statistics_inputs["train_out_of_fold"], check_exact=True)

