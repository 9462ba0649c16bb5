"""Item statistics (``count_item_statistics`` + ``item_statistic_features``, Ibis on an in-memory
DuckDB): hand-computed values, unseen keys, out-of-fold rows that never see their own label, the
seeded fold draw and the settings refused."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest
from ibis.common.exceptions import IbisTypeError

from book_recs.features import FieldConfig, statistic_columns
from book_recs.features.item_statistics import count_item_statistics, item_statistic_features
from book_recs.pipelines.feature_engineering.nodes import assign_statistics_folds

COLUMNS = statistic_columns(["ISBN"])
NO_IMPLICIT = pd.DataFrame({"User-ID": pd.Series(dtype="int64"), "ISBN": pd.Series(dtype="str")})


def ratings(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    """(User-ID, ISBN, Book-Rating) rows with label = rating > 7."""
    frame = pd.DataFrame(rows, columns=["User-ID", "ISBN", "Book-Rating"])
    frame["label"] = (frame["Book-Rating"] > 7).astype("int64")
    return frame


TRAIN = ratings([(1, "a", 9), (2, "a", 10), (3, "a", 2), (4, "b", 5), (5, "c", 8), (6, "c", 3)])
# Implicit interactions (rating 0) of train users 1, 4, 5 and of user 99, who is not in TRAIN.
IMPLICIT = pd.DataFrame({"User-ID": [1, 1, 4, 5, 5, 99, 99],
                         "ISBN": ["b", "d", "a", "b", "d", "a", "c"]})


def fold_table(folds: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"User-ID": list(folds), "fold": list(folds.values())})


def statistics_of(rows: pd.DataFrame, train: pd.DataFrame, folds: dict[int, int], *,
                  implicit: pd.DataFrame = NO_IMPLICIT, prior_strength: float = 10.0,
                  implicit_prior_strength: float = 1.0, out_of_fold: bool = False) -> pd.DataFrame:
    """The ISBN statistics of ``rows`` (in their order, with their index), counted on ``train``
    whose users have ``folds``: all-train statistics, or out of fold for train rows."""
    user_folds = ibis.memtable(fold_table(folds))
    statistics, priors = count_item_statistics(ibis.memtable(train), ibis.memtable(implicit),
                                               user_folds, ["ISBN"])
    features = item_statistic_features(
        ibis.memtable(rows.assign(_position=np.arange(len(rows)))), statistics, priors, ["ISBN"],
        prior_strength, implicit_prior_strength, folds=len(set(folds.values())),
        row_folds=user_folds if out_of_fold else None)
    result = ibis.duckdb.connect().execute(features).sort_values("_position")
    return result[COLUMNS].set_axis(rows.index)


def keys(*values: str) -> pd.DataFrame:
    return pd.DataFrame({"ISBN": list(values)})


# Users 1..6 in two folds: the all-train statistics do not depend on which.
TWO_FOLDS = {1: 0, 2: 1, 3: 0, 4: 1, 5: 0, 6: 1}


def test_full_train_statistics_match_hand_computed_bayesian_averages():
    features = statistics_of(keys("a", "b", "unseen"), TRAIN, TWO_FOLDS, prior_strength=2.0)
    like_rate, mean_rating = 3 / 6, 37 / 6
    assert list(features.columns) == statistic_columns(["ISBN"])
    np.testing.assert_allclose(features["ISBN_log_count"], np.log1p([3, 1, 0]))
    np.testing.assert_allclose(features["ISBN_like_rate"],
                               [(2 + 2 * like_rate) / 5, (0 + 2 * like_rate) / 3, like_rate])
    np.testing.assert_allclose(features["ISBN_mean_rating"],
                               [(21 + 2 * mean_rating) / 5, (5 + 2 * mean_rating) / 3, mean_rating])
    # Each TRAIN user rated one book, so every deviation from the user's own mean is 0.
    np.testing.assert_allclose(features["ISBN_mean_deviation"], [0, 0, 0])


def test_mean_deviation_ranks_books_within_raters_not_by_raw_rating():
    # User 1 rates everything high, user 2 everything low; both prefer "b" to "a". The raw mean
    # rating prefers "a" (rated by the lenient user only); the deviation prefers "b".
    train = ratings([(1, "a", 9), (1, "b", 10), (1, "c", 8), (2, "b", 4), (2, "d", 1)])
    features = statistics_of(keys("a", "b", "unseen"), train, {1: 0, 2: 1}, prior_strength=1.0)
    assert features.loc[0, "ISBN_mean_rating"] > features.loc[1, "ISBN_mean_rating"]
    # a: 9 - 9 = 0; b: (10 - 9) + (4 - 2.5) = 2.5 over 2 ratings + 1 pseudo-rating at 0.
    np.testing.assert_allclose(features["ISBN_mean_deviation"], [0 / 2, 2.5 / 3, 0])


def test_out_of_fold_rows_never_see_their_own_label():
    folds = {1: 0, 2: 1, 3: 2, 4: 0, 5: 1, 6: 2}  # the raters of "a" in three different folds
    flipped = TRAIN.copy()
    flipped.loc[0, ["Book-Rating", "label"]] = [1, 0]  # user 1 now dislikes "a"
    before = statistics_of(TRAIN, TRAIN, folds, out_of_fold=True)
    after = statistics_of(flipped, flipped, folds, out_of_fold=True)
    # Row 0's own features do not move; the other rows of "a" (users 2 and 3) do.
    pd.testing.assert_series_equal(before.loc[0], after.loc[0])
    assert (after.loc[[1, 2], "ISBN_like_rate"] < before.loc[[1, 2], "ISBN_like_rate"]).all()
    assert (after.loc[[1, 2], "ISBN_mean_rating"] < before.loc[[1, 2], "ISBN_mean_rating"]).all()


def test_implicit_statistics_count_train_users_only():
    features = statistics_of(keys("a", "b", "c", "d", "unseen"), TRAIN, TWO_FOLDS,
                             implicit=IMPLICIT, implicit_prior_strength=2.0)
    # 5 implicit interactions of train users beside 6 rated rows; user 99's two are ignored.
    share = 5 / 11
    np.testing.assert_allclose(features["ISBN_log_implicit_count"], np.log1p([1, 2, 0, 2, 0]))
    np.testing.assert_allclose(features["ISBN_implicit_share"],
                               [(1 + 2 * share) / (1 + 3 + 2), (2 + 2 * share) / (2 + 1 + 2),
                                (0 + 2 * share) / (0 + 2 + 2), (2 + 2 * share) / (2 + 0 + 2), share])
    # "d" was never rated: it has an implicit count and the rated-side priors.
    assert features.loc[3, "ISBN_like_rate"] == features.loc[4, "ISBN_like_rate"]


@pytest.mark.parametrize("implicit", [NO_IMPLICIT, IMPLICIT], ids=["rated only", "with implicit"])
def test_out_of_fold_statistics_equal_a_fit_on_the_other_folds(implicit):
    out_of_fold = statistics_of(TRAIN, TRAIN, TWO_FOLDS, implicit=implicit, out_of_fold=True)
    fold = TRAIN["User-ID"].map(TWO_FOLDS)
    for held_out in (0, 1):
        rows = TRAIN[fold == held_out]
        others = {user: f for user, f in TWO_FOLDS.items() if f != held_out}
        expected = statistics_of(rows, TRAIN[fold != held_out], others, implicit=implicit)
        # Counts are rescaled by folds / (folds - 1) = 2 to the full-train scale.
        for count in ("ISBN_log_count", "ISBN_log_implicit_count"):
            expected[count] = np.log1p(2 * np.expm1(expected[count]))
        pd.testing.assert_frame_equal(out_of_fold.loc[rows.index], expected)
    if len(implicit):
        assert out_of_fold["ISBN_log_implicit_count"].gt(0).any()


def test_each_train_user_has_one_fold_and_the_draw_is_seeded():
    users = pd.DataFrame({"User-ID": [5, 1, 5, 3, 1, 9, 7, 3, 40, 41],
                          "split": ["train"] * 8 + ["valid", "test"]})
    params = {"numeric_fields": [], "categorical_fields": [], "user_fields": [],
              "title_encoder": "e", "title_device": "cpu", "pca_variance_share": 0.8, "min_category_count": 1,
              "statistics_folds": 3, "seed": 11}
    folds = assign_statistics_folds(users, params)
    assert folds["User-ID"].tolist() == [1, 3, 5, 7, 9]  # train users, once each
    assert set(folds["fold"]) == {0, 1, 2} and folds["fold"].value_counts().max() == 2
    pd.testing.assert_frame_equal(assign_statistics_folds(users.iloc[::-1], params), folds)
    draws = {tuple(assign_statistics_folds(users, {**params, "seed": seed})["fold"])
             for seed in range(6)}
    assert len(draws) > 1
    with pytest.raises(ValueError, match="at least 6 train users, got 5"):
        assign_statistics_folds(users, {**params, "statistics_folds": 6})


@pytest.mark.parametrize("settings, message", [
    ({"statistics_prior_strength": 0.0}, "statistics_prior_strength"),
    ({"implicit_prior_strength": -1.0}, "implicit_prior_strength"),
    ({"statistics_folds": 1}, "statistics_folds must be at least 2"),
])
def test_bad_settings_are_refused_with_a_clear_error(settings, message):
    with pytest.raises(ValueError, match=message):
        FieldConfig(item_statistic_keys=("ISBN",), **settings)


@pytest.mark.parametrize("train, implicit, missing", [
    (TRAIN, IMPLICIT, "Publisher"),
    (TRAIN, IMPLICIT.drop(columns="User-ID"), "User-ID"),
], ids=["key absent from train", "implicit without users"])
def test_missing_columns_are_named_when_the_statistics_are_built(train, implicit, missing):
    keys = ["ISBN", "Publisher"] if missing == "Publisher" else ["ISBN"]
    with pytest.raises(IbisTypeError, match=f"'{missing}' is not found"):
        count_item_statistics(ibis.memtable(train), ibis.memtable(implicit),
                              ibis.memtable(fold_table(TWO_FOLDS)), keys)
