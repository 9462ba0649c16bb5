"""Train-only statistics of item keys (book, author, publisher) as numeric features.

For each key (e.g. ``ISBN``), four numbers per row: how often the key was rated in train
(``log1p`` of the count), its smoothed like rate and its smoothed mean rating (Bayesian averages
pulled toward the train-wide value by ``prior_strength`` pseudo-ratings), and its smoothed mean
deviation: the mean of (rating - that user's mean train rating), pulled toward 0. The deviation
removes each rater's leniency, so it says how a book, author or publisher ranks WITHIN a reader's
ratings: the question gAUC and nDCG ask (for authors it alone ranks better than the raw mean).
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN

STATISTICS = ("log_count", "like_rate", "mean_rating", "mean_deviation")


def statistic_columns(keys: Sequence[str]) -> list[str]:
    """Output column names, key by key: ``<key>_<statistic>`` for each of ``STATISTICS``."""
    return [f"{key}_{statistic}" for key in keys for statistic in STATISTICS]


def _user_deviation(rows: pd.DataFrame) -> pd.Series:
    """Each row's rating minus the mean rating of its user over ``rows``."""
    return rows[RATING_COLUMN] - rows.groupby(USER_COLUMN)[RATING_COLUMN].transform("mean")


def _totals(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    return rows.assign(deviation=_user_deviation(rows)).groupby(key, observed=True).agg(
        count=(LABEL_COLUMN, "size"), likes=(LABEL_COLUMN, "sum"), ratings=(RATING_COLUMN, "sum"),
        deviations=("deviation", "sum"))


@dataclass(frozen=True)
class ItemStatistics:
    """Per-key counts, likes and rating sums of the train rows, and the train-wide priors.

    Attributes:
        keys: Item columns the statistics are computed for.
        prior_strength: Pseudo-ratings at the train-wide like rate / mean rating added to every key.
        folds: User folds of the out-of-fold statistics of the train rows.
        seed: Seed of the user-to-fold assignment.
        like_rate: Train-wide share of likes (``label == 1``).
        mean_rating: Train-wide mean ``Book-Rating``.
        totals: Per key, a table indexed by key value with ``count``, ``likes``, ``ratings`` and
            ``deviations`` (sum of rating minus the rater's mean train rating).
    """

    keys: tuple[str, ...]
    prior_strength: float
    folds: int
    seed: int
    like_rate: float
    mean_rating: float
    totals: dict[str, pd.DataFrame]

    @classmethod
    def fit(cls, train: pd.DataFrame, keys: Sequence[str], prior_strength: float = 10.0,
            folds: int = 5, seed: int = 2021) -> ItemStatistics:
        """Count the train rows per key value.

        Raises:
            ValueError: On an empty train table, a non-positive prior, fewer than 2 folds or
                fewer users than folds, or a key, ``User-ID``, ``label`` or ``Book-Rating`` column
                missing from ``train``.
        """
        if train.empty:
            raise ValueError("cannot fit item statistics on an empty train table")
        if prior_strength <= 0 or folds < 2:
            raise ValueError(f"need prior_strength > 0 and folds >= 2, got {prior_strength}, {folds}")
        if missing := {*keys, LABEL_COLUMN, RATING_COLUMN, USER_COLUMN} - set(train.columns):
            raise ValueError(f"item statistics need the train columns {sorted(missing)}")
        if (users := train[USER_COLUMN].nunique()) < folds:
            raise ValueError(f"{folds} user folds need at least {folds} train users, got {users}")
        return cls(tuple(keys), float(prior_strength), int(folds), int(seed),
                   float(train[LABEL_COLUMN].mean()), float(train[RATING_COLUMN].mean()),
                   {key: _totals(train, key) for key in keys})

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
            totals = {key: _totals(others, key) for key in self.keys}
            # The priors too come from the other folds: nothing of a row's own label is used.
            features.loc[rows.index] = self._features(
                rows, totals, float(others[LABEL_COLUMN].mean()),
                float(others[RATING_COLUMN].mean()),
                count_scale=self.folds / (self.folds - 1)).to_numpy()
        return features.reset_index(drop=True)

    def user_folds(self, users: pd.Series) -> np.ndarray:
        """Fold number per row: each user's rows share one fold, drawn with ``seed``."""
        unique = np.sort(users.unique())
        folds = np.random.default_rng(self.seed).permutation(len(unique)) % self.folds
        return pd.Series(folds, index=unique).loc[users.to_numpy()].to_numpy()

    def _features(self, rows: pd.DataFrame, totals: dict[str, pd.DataFrame], like_rate: float,
                  mean_rating: float, count_scale: float) -> pd.DataFrame:
        columns = {}
        for key in self.keys:
            # map, not join: a key column of another dtype (e.g. all missing) is simply unseen.
            count, likes, ratings, deviations = (
                rows[key].map(totals[key][total]).fillna(0).to_numpy(np.float64)
                for total in ("count", "likes", "ratings", "deviations"))
            pseudo = count + self.prior_strength
            columns[f"{key}_log_count"] = np.log1p(count * count_scale)
            columns[f"{key}_like_rate"] = (likes + self.prior_strength * like_rate) / pseudo
            columns[f"{key}_mean_rating"] = (ratings
                                             + self.prior_strength * mean_rating) / pseudo
            columns[f"{key}_mean_deviation"] = deviations / pseudo
        return pd.DataFrame(columns)
