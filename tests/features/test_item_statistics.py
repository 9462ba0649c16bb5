"""Item statistics: hand-computed values, unseen keys, and out-of-fold rows that never see their
own label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from book_recs.features import ItemStatistics, statistic_columns


def ratings(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    """(User-ID, ISBN, Book-Rating) rows with label = rating > 7."""
    frame = pd.DataFrame(rows, columns=["User-ID", "ISBN", "Book-Rating"])
    frame["label"] = (frame["Book-Rating"] > 7).astype("int64")
    return frame


TRAIN = ratings([(1, "a", 9), (2, "a", 10), (3, "a", 2), (4, "b", 5), (5, "c", 8), (6, "c", 3)])


def test_full_train_statistics_match_hand_computed_bayesian_averages():
    stats = ItemStatistics.fit(TRAIN, keys=["ISBN"], prior_strength=2.0)
    features = stats.transform(pd.DataFrame({"ISBN": ["a", "b", "unseen"]}))
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
    stats = ItemStatistics.fit(train, keys=["ISBN"], prior_strength=1.0, folds=2)
    features = stats.transform(pd.DataFrame({"ISBN": ["a", "b", "unseen"]}))
    assert features.loc[0, "ISBN_mean_rating"] > features.loc[1, "ISBN_mean_rating"]
    # a: 9 - 9 = 0; b: (10 - 9) + (4 - 2.5) = 2.5 over 2 ratings + 1 pseudo-rating at 0.
    np.testing.assert_allclose(features["ISBN_mean_deviation"], [0 / 2, 2.5 / 3, 0])


def test_out_of_fold_rows_never_see_their_own_label():
    stats = ItemStatistics.fit(TRAIN, keys=["ISBN"], folds=3, seed=0)
    flipped = TRAIN.copy()
    flipped.loc[0, ["Book-Rating", "label"]] = [1, 0]  # user 1 now dislikes "a"
    before = stats.transform_out_of_fold(TRAIN)
    after = ItemStatistics.fit(flipped, keys=["ISBN"], folds=3, seed=0).transform_out_of_fold(flipped)
    # Row 0's own features do not move; rows of "a" in other folds do.
    pd.testing.assert_series_equal(before.loc[0], after.loc[0])
    fold = stats.user_folds(TRAIN["User-ID"])
    other_a_rows = [i for i in (1, 2) if fold[i] != fold[0]]
    assert other_a_rows, "the seed puts users 1..3 in one fold; pick another seed"
    assert (after.loc[other_a_rows, "ISBN_like_rate"] < before.loc[other_a_rows, "ISBN_like_rate"]).all()


# Implicit interactions (rating 0) of train users 1, 4, 5 and of user 99, who is not in TRAIN.
IMPLICIT = pd.DataFrame({"User-ID": [1, 1, 4, 5, 5, 99, 99],
                         "ISBN": ["b", "d", "a", "b", "d", "a", "c"]})


def test_implicit_statistics_count_train_users_only():
    stats = ItemStatistics.fit(TRAIN, keys=["ISBN"], implicit=IMPLICIT, implicit_prior_strength=2.0)
    features = stats.transform(pd.DataFrame({"ISBN": ["a", "b", "c", "d", "unseen"]}))
    # 5 implicit interactions of train users beside 6 rated rows; user 99's two are ignored.
    share = 5 / 11
    np.testing.assert_allclose(features["ISBN_log_implicit_count"], np.log1p([1, 2, 0, 2, 0]))
    np.testing.assert_allclose(features["ISBN_implicit_share"],
                               [(1 + 2 * share) / (1 + 3 + 2), (2 + 2 * share) / (2 + 1 + 2),
                                (0 + 2 * share) / (0 + 2 + 2), (2 + 2 * share) / (2 + 0 + 2), share])
    # "d" was never rated: it has an implicit count and the rated-side priors.
    assert features.loc[3, "ISBN_like_rate"] == features.loc[4, "ISBN_like_rate"]


@pytest.mark.parametrize("implicit", [None, IMPLICIT], ids=["rated only", "with implicit"])
def test_out_of_fold_statistics_equal_a_fit_on_the_other_folds(implicit):
    stats = ItemStatistics.fit(TRAIN, keys=["ISBN"], folds=2, seed=3, implicit=implicit)
    fold = stats.user_folds(TRAIN["User-ID"])
    out_of_fold = stats.transform_out_of_fold(TRAIN)
    for held_out in (0, 1):
        rows = TRAIN[fold == held_out]
        others = ItemStatistics.fit(TRAIN[fold != held_out], keys=["ISBN"], folds=2,
                                    implicit=implicit)
        expected = others.transform(rows).set_index(rows.index)
        # Counts are rescaled by folds / (folds - 1) = 2 to the full-train scale.
        for count in ("ISBN_log_count", "ISBN_log_implicit_count"):
            expected[count] = np.log1p(2 * np.expm1(expected[count]))
        pd.testing.assert_frame_equal(out_of_fold.loc[rows.index], expected)
    if implicit is not None:
        assert out_of_fold["ISBN_log_implicit_count"].gt(0).any()


def test_each_user_has_one_fold_and_the_draw_is_seeded():
    users = pd.Series([5, 1, 5, 3, 1, 9, 7, 3])
    stats = ItemStatistics.fit(TRAIN, keys=["ISBN"], folds=3, seed=11)
    fold = stats.user_folds(users)
    assert pd.Series(fold).groupby(users.to_numpy()).nunique().eq(1).all()
    np.testing.assert_array_equal(fold, stats.user_folds(users))
    assert set(fold) <= {0, 1, 2}


@pytest.mark.parametrize("kwargs, message", [
    ({"prior_strength": 0.0}, "prior_strength"),
    ({"implicit_prior_strength": -1.0}, "implicit_prior_strength"),
    ({"folds": 1}, "folds"),
    ({"keys": ["Publisher"]}, "Publisher"),
    ({"folds": 7}, "at least 7 train users"),
    ({"implicit": IMPLICIT.drop(columns="User-ID")}, "implicit interactions need"),
])
def test_bad_settings_are_refused_with_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ItemStatistics.fit(TRAIN, **{"keys": ["ISBN"], **kwargs})
