"""Train-only statistics of item keys (book, author, publisher) as numeric features.

For each key (e.g. ``ISBN``), six numbers per row: how often the key was rated in train
(``log1p`` of the count), its smoothed like rate and its smoothed mean rating (Bayesian averages
pulled toward the train-wide value by ``prior_strength`` pseudo-ratings), and its smoothed mean
deviation: the mean of (rating - that user's mean train rating), pulled toward 0. The deviation
removes each rater's leniency, so it says how a book, author or publisher ranks WITHIN a reader's
ratings: the question gAUC and nDCG ask (for authors it alone ranks better than the raw mean).
The last two read the IMPLICIT interactions of the train users (Book-Crossing's rating 0: the user
has the book but gave no rating): their count (``log1p``) and the implicit share of all the key's
interactions, pulled toward the train-wide share by ``implicit_prior_strength``
pseudo-interactions (fewer than the rates get: on the full data's valid split 1 beat 10). Neither
reads a label; interactions of users outside train are ignored, so cold-start valid and test users
contribute nothing.
Rows of other splits get the statistics of all train rows. The train rows themselves get OUT-OF-FOLD statistics: users are
split into ``folds`` groups and each row sees only the other groups' ratings (priors included), so
a row's own label never enters its features (the leak that would let a model read the answer off a rare book's
rate). Counts are rescaled by ``folds / (folds - 1)`` so train and scoring rows share one scale.

Example:
    >>> import pandas as pd
    >>> train = pd.DataFrame({"User-ID": [1, 2, 3], "ISBN": ["a", "a", "b"],
    ...                       "Book-Rating": [9, 8, 3], "label": [1, 1, 0]})
    >>> stats = ItemStatistics.fit(train, keys=("ISBN",), prior_strength=1.0, folds=2)
    >>> stats.transform(pd.DataFrame({"ISBN": ["a", "z"]}))["ISBN_like_rate"].round(3).tolist()
    [0.889, 0.667]
    >>> implicit = pd.DataFrame({"User-ID": [1, 3, 4], "ISBN": ["b", "b", "a"]})  # user 4: not train
    >>> stats = ItemStatistics.fit(train, ("ISBN",), folds=2, implicit=implicit)
    >>> stats.transform(pd.DataFrame({"ISBN": ["a", "b"]}))["ISBN_implicit_share"].round(3).tolist()
    [0.133, 0.6]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN

STATISTICS = ("log_count", "like_rate", "mean_rating", "mean_deviation", "log_implicit_count",
              "implicit_share")


def statistic_columns(keys: Sequence[str]) -> list[str]:
    """Output column names, key by key: ``<key>_<statistic>`` for each of ``STATISTICS``."""
    return [f"{key}_{statistic}" for key in keys for statistic in STATISTICS]


def _user_deviation(rows: pd.DataFrame) -> pd.Series:
    """Each row's rating minus the mean rating of its user over ``rows``."""
    return rows[RATING_COLUMN] - rows.groupby(USER_COLUMN)[RATING_COLUMN].transform("mean")


def _totals(rows: pd.DataFrame, key: str, implicit: pd.Series) -> pd.DataFrame:
    """Per key value: rated rows, likes, rating and deviation sums, and ``implicit``: the count
    of implicit interactions (a key with implicit interactions only gets zeros for the rest)."""
    rated = rows.assign(deviation=_user_deviation(rows)).groupby(key, observed=True).agg(
        count=(LABEL_COLUMN, "size"), likes=(LABEL_COLUMN, "sum"), ratings=(RATING_COLUMN, "sum"),
        deviations=("deviation", "sum"))
    return rated.join(implicit.rename("implicit"), how="outer").fillna(0)


def _fold_of_user(users: pd.Series, folds: int, seed: int) -> pd.Series:
    """Fold number per unique user (the index), drawn with ``seed``."""
    unique = np.sort(users.unique())
    return pd.Series(np.random.default_rng(seed).permutation(len(unique)) % folds, index=unique)


@dataclass(frozen=True)
class ItemStatistics:
    """Per-key counts, likes and rating sums of the train rows, and the train-wide priors.

    Attributes:
        keys: Item columns the statistics are computed for.
        prior_strength: Pseudo-ratings at the train-wide like rate / mean rating added to every key.
        implicit_prior_strength: Pseudo-interactions at the train-wide implicit share.
        folds: User folds of the out-of-fold statistics of the train rows.
        seed: Seed of the user-to-fold assignment.
        like_rate: Train-wide share of likes (``label == 1``).
        mean_rating: Train-wide mean ``Book-Rating``.
        totals: Per key, a table indexed by key value with ``count``, ``likes``, ``ratings``,
            ``deviations`` (sum of rating minus the rater's mean train rating) and ``implicit``.
        implicit_by_fold: Per key, the train users' implicit interactions counted per key value
            (index) and user fold (columns ``0 .. folds - 1``).
    """

    keys: tuple[str, ...]
    prior_strength: float
    implicit_prior_strength: float
    folds: int
    seed: int
    like_rate: float
    mean_rating: float
    totals: dict[str, pd.DataFrame]
    implicit_by_fold: dict[str, pd.DataFrame]

    @classmethod
    def fit(cls, train: pd.DataFrame, keys: Sequence[str], prior_strength: float = 10.0,
            folds: int = 5, seed: int = 2021, *,
            implicit: pd.DataFrame | None = None,
            implicit_prior_strength: float = 1.0) -> ItemStatistics:
        """Count the train rows per key value.

        Args:
            train: Rated train rows: ``User-ID``, ``label``, ``Book-Rating`` and the keys.
            keys: Item columns to compute statistics for.
            prior_strength: Pseudo-ratings of every Bayesian average.
            folds: User folds of the out-of-fold statistics.
            seed: Seed of the user-to-fold assignment.
            implicit: Implicit interactions (``User-ID`` and the keys; ``None``: none). Only the
                rows of train users are counted.
            implicit_prior_strength: Pseudo-interactions of the implicit share.

        Raises:
            ValueError: On an empty train table, a non-positive prior, fewer than 2 folds or
                fewer users than folds, implicit interactions without ``User-ID`` or a key, or a
                key, ``User-ID``, ``label`` or ``Book-Rating`` column
                missing from ``train``.
        """
        if train.empty:
            raise ValueError("cannot fit item statistics on an empty train table")
        if min(prior_strength, implicit_prior_strength) <= 0 or folds < 2:
            raise ValueError("need prior_strength > 0, implicit_prior_strength > 0 and folds >= 2, "
                             f"got {prior_strength}, {implicit_prior_strength}, {folds}")
        if missing := {*keys, LABEL_COLUMN, RATING_COLUMN, USER_COLUMN} - set(train.columns):
            raise ValueError(f"item statistics need the train columns {sorted(missing)}")
        if (users := train[USER_COLUMN].nunique()) < folds:
            raise ValueError(f"{folds} user folds need at least {folds} train users, got {users}")
        if implicit is None:
            implicit = pd.DataFrame(columns=[USER_COLUMN, *keys])
        if missing := {*keys, USER_COLUMN} - set(implicit.columns):
            raise ValueError(f"implicit interactions need the columns {sorted(missing)}")
        fold = implicit[USER_COLUMN].map(_fold_of_user(train[USER_COLUMN], folds, seed))
        of_train_users = implicit[fold.notna()].assign(fold=fold.dropna().astype("int64"))
        implicit_by_fold = {
            key: of_train_users.groupby([key, "fold"], observed=True).size()
            .unstack("fold", fill_value=0).reindex(columns=range(folds), fill_value=0)
            for key in keys}
        return cls(tuple(keys), float(prior_strength), float(implicit_prior_strength),
                   int(folds), int(seed),
                   float(train[LABEL_COLUMN].mean()), float(train[RATING_COLUMN].mean()),
                   {key: _totals(train, key, implicit_by_fold[key].sum(axis=1)) for key in keys},
                   implicit_by_fold)

    def transform(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Statistics of all train rows for any rows (keys unseen in train get count 0 and the
        priors). Reads only the key columns of ``rows``, never their labels."""
        return self._features(rows, self.totals, self.like_rate, self.mean_rating, count_scale=1.0)

    def transform_out_of_fold(self, train: pd.DataFrame) -> pd.DataFrame:
        """Statistics for the train rows themselves, each row from the other user folds only."""
        fold = self.user_folds(train[USER_COLUMN])
        features = pd.DataFrame(index=train.index, columns=statistic_columns(self.keys),
                                dtype="float64")
        for held_out in range(self.folds):
            rows = train[fold == held_out]
            others = train[fold != held_out]
            totals = {key: _totals(others, key, self.implicit_by_fold[key]
                                   .drop(columns=held_out).sum(axis=1))
                      for key in self.keys}
            # The priors too come from the other folds: nothing of a row's own label is used.
            features.loc[rows.index] = self._features(
                rows, totals, float(others[LABEL_COLUMN].mean()),
                float(others[RATING_COLUMN].mean()),
                count_scale=self.folds / (self.folds - 1)).to_numpy()
        return features.reset_index(drop=True)

    def user_folds(self, users: pd.Series) -> np.ndarray:
        """Fold number per row: each user's rows share one fold, drawn with ``seed``."""
        return _fold_of_user(users, self.folds, self.seed).loc[users.to_numpy()].to_numpy()

    def _features(self, rows: pd.DataFrame, totals: dict[str, pd.DataFrame], like_rate: float,
                  mean_rating: float, count_scale: float) -> pd.DataFrame:
        columns = {}
        for key in self.keys:
            # map, not join: a key column of another dtype (e.g. all missing) is simply unseen.
            count, likes, ratings, deviations, implicit = (
                rows[key].map(totals[key][total]).fillna(0).to_numpy(np.float64)
                for total in ("count", "likes", "ratings", "deviations", "implicit"))
            # The prior: the implicit share over all the rows this key groups.
            all_implicit = totals[key]["implicit"].sum()
            implicit_share = all_implicit / (all_implicit + totals[key]["count"].sum())
            pseudo = count + self.prior_strength
            columns[f"{key}_log_count"] = np.log1p(count * count_scale)
            columns[f"{key}_like_rate"] = (likes + self.prior_strength * like_rate) / pseudo
            columns[f"{key}_mean_rating"] = (ratings
                                             + self.prior_strength * mean_rating) / pseudo
            columns[f"{key}_mean_deviation"] = deviations / pseudo
            columns[f"{key}_log_implicit_count"] = np.log1p(implicit * count_scale)
            columns[f"{key}_implicit_share"] = (
                (implicit + self.implicit_prior_strength * implicit_share)
                / (implicit + count + self.implicit_prior_strength))
        return pd.DataFrame(columns)
