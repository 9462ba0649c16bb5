"""Train-only statistics of item keys (book, author, publisher) as numeric features, in Ibis.

For each key (e.g. ``ISBN``), six numbers per row: how often the key was rated in train
(``log1p`` of the count), its smoothed like rate and its smoothed mean rating (Bayesian averages
pulled toward the train-wide value by ``prior_strength`` pseudo-ratings), and its smoothed mean
deviation: the mean of (rating - that user's mean train rating), pulled toward 0. The deviation
removes each rater's leniency, so it says how a book, author or publisher ranks WITHIN a reader's
ratings: the question gAUC and nDCG ask. The last two read the IMPLICIT interactions of the train
users (Book-Crossing's rating 0: the user has the book but gave no rating): their count
(``log1p``) and the implicit share of all the key's interactions, pulled toward the train-wide
share by ``implicit_prior_strength`` pseudo-interactions. Neither reads a label; interactions of
users outside train are ignored, so cold-start valid and test users contribute nothing.

Rows of other splits get the statistics of all train rows. The train rows themselves get
OUT-OF-FOLD statistics: users are split into ``folds`` groups and each row sees only the other
groups' ratings (priors included), so a row's own label never enters its features. Counts are
rescaled by ``folds / (folds - 1)`` so train and scoring rows share one scale.

What is stored (``count_item_statistics``) is per (key, value, fold) sums, so both the all-train
and the out-of-fold statistics follow by subtraction. Deviation sums are exact decimals: sums of
floating-point numbers would depend on the engine's summation order, and a rerun must give the same
features.

Example:
    >>> import ibis, pandas as pd
    >>> train = ibis.memtable({"User-ID": [1, 2, 3], "ISBN": ["a", "a", "b"],
    ...                        "Book-Rating": [9, 8, 3], "label": [1, 1, 0]})
    >>> folds = ibis.memtable({"User-ID": [1, 2, 3], "fold": [0, 1, 0]})
    >>> implicit = ibis.memtable({"User-ID": [1, 3, 4], "ISBN": ["b", "b", "a"]})  # 4: not train
    >>> statistics, priors = count_item_statistics(train, implicit, folds, ["ISBN"])
    >>> rows = ibis.memtable({"ISBN": ["a", "z"]})
    >>> features = item_statistic_features(rows, statistics, priors, ["ISBN"], 1.0, 1.0, folds=2)
    >>> features.execute()["ISBN_like_rate"].round(3).tolist()
    [0.889, 0.667]
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.features.fields import STATISTICS, statistic_columns

FOLD_COLUMN = "fold"
SUMS = ("count", "likes", "ratings", "deviations", "implicit")
# 18 decimals hold a mean rating's deviation to far below double precision; 20 integer digits
# hold any realistic sum.
DEVIATION_TYPE = dt.Decimal(38, 18)


def count_item_statistics(train: ir.Table, implicit: ir.Table, folds: ir.Table,
                          keys: Sequence[str]) -> tuple[ir.Table, ir.Table]:
    """Per (key, value, user fold) sums of the train rows and the train users' implicit rows.

    Args:
        train: Rated train rows: ``User-ID``, ``label``, ``Book-Rating`` and the keys.
        implicit: Implicit interactions (``User-ID`` and the keys) of all users; only those of
            train users (the users in ``folds``) are counted.
        folds: ``User-ID`` -> ``fold`` of every train user.
        keys: Item columns to compute statistics for.

    Returns:
        ``statistics``: columns ``key``, ``value`` (text), ``fold``, ``count``, ``likes``,
        ``ratings`` (rating sum), ``deviations`` (sum of rating minus the rater's mean train
        rating, decimal) and ``implicit`` (implicit interactions); and ``priors``: per fold the
        train ``rows``, ``likes`` and ``ratings``.
    """
    rated = train.join(folds, USER_COLUMN)
    user_means = rated.group_by(USER_COLUMN).aggregate(_user_mean=rated[RATING_COLUMN].mean())
    rated = rated.join(user_means, USER_COLUMN)
    rated = rated.mutate(_deviation=rated[RATING_COLUMN].cast(DEVIATION_TYPE)
                         - rated["_user_mean"].cast(DEVIATION_TYPE))
    held = implicit.join(folds, USER_COLUMN)
    zero = ibis.literal(0, "int64")
    parts = []
    for key in keys:
        parts.append(rated.select(
            key=ibis.literal(key), value=rated[key].cast("string"), fold=rated[FOLD_COLUMN],
            count=ibis.literal(1, "int64"), likes=rated[LABEL_COLUMN].cast("int64"),
            ratings=rated[RATING_COLUMN].cast("int64"), deviations=rated["_deviation"],
            implicit=zero))
        parts.append(held.select(
            key=ibis.literal(key), value=held[key].cast("string"), fold=held[FOLD_COLUMN],
            count=zero, likes=zero, ratings=zero,
            deviations=ibis.literal(0, DEVIATION_TYPE), implicit=ibis.literal(1, "int64")))
    if not parts:  # no keys (statistics turned off): the columns, and no row (no value)
        parts.append(held.select(
            key=ibis.null("string"), value=ibis.null("string"), fold=held[FOLD_COLUMN],
            count=zero, likes=zero, ratings=zero, deviations=ibis.literal(0, DEVIATION_TYPE),
            implicit=zero))
    rows = ibis.union(*parts)
    # A missing key value is no value: it gets no statistics (as pandas' groupby drops it).
    rows = rows.filter(rows["value"].notnull())
    statistics = rows.group_by(["key", "value", FOLD_COLUMN]).aggregate(
        **{name: rows[name].sum() for name in SUMS})
    priors = rated.group_by(FOLD_COLUMN).aggregate(
        rows=rated.count(), likes=rated[LABEL_COLUMN].sum().cast("int64"),
        ratings=rated[RATING_COLUMN].sum().cast("int64"))
    # Sorted, so a rerun writes the same bytes (a hash aggregate's order is the engine's).
    return statistics.order_by(["key", "value", FOLD_COLUMN]), priors.order_by(FOLD_COLUMN)


def _totals(statistics: ir.Table, row_folds: ir.Table | None) -> ir.Table:
    """Sums per (key, value) over all folds, or, out of fold, per (key, value, fold of
    ``row_folds``) over the other folds: all folds minus the fold's own sums."""
    totals = statistics.group_by(["key", "value"]).aggregate(
        **{name: statistics[name].sum() for name in SUMS})
    if row_folds is None:
        return totals
    # The folds from a table, not a memtable: Ibis' PySpark `Table.cache` does not register
    # memtables.
    every_fold = totals.cross_join(row_folds.select(FOLD_COLUMN).distinct())
    own = statistics.rename(**{f"_own_{name}": name for name in SUMS})
    joined = every_fold.left_join(own, ["key", "value", FOLD_COLUMN])
    return joined.select("key", "value", FOLD_COLUMN, **{
        name: joined[name] - joined[f"_own_{name}"].fill_null(0) for name in SUMS})


def _priors(statistics: ir.Table, priors: ir.Table, out_of_fold: bool) -> ir.Table:
    """The train-wide like rate and mean rating, and per key the implicit share, over all folds
    (one row per key) or over the other folds (one row per key and fold)."""
    rated = priors.aggregate(_rows=priors["rows"].sum(), _likes=priors["likes"].sum(),
                             _ratings=priors["ratings"].sum())
    shares = statistics.group_by("key").aggregate(_count=statistics["count"].sum(),
                                                  _implicit=statistics["implicit"].sum())
    if out_of_fold:
        rated = priors.cross_join(rated).mutate(
            _rows=ibis._["_rows"] - ibis._["rows"], _likes=ibis._["_likes"] - ibis._["likes"],
            _ratings=ibis._["_ratings"] - ibis._["ratings"])
        own = statistics.group_by(["key", FOLD_COLUMN]).aggregate(
            _own_count=statistics["count"].sum(), _own_implicit=statistics["implicit"].sum())
        shares = shares.join(own, "key").mutate(
            _count=ibis._["_count"] - ibis._["_own_count"],
            _implicit=ibis._["_implicit"] - ibis._["_own_implicit"])
        joined = shares.join(rated, FOLD_COLUMN)
    else:
        joined = shares.cross_join(rated)
    return joined.select(
        "key", *([FOLD_COLUMN] if out_of_fold else []),
        like_rate=joined["_likes"] / joined["_rows"],
        mean_rating=joined["_ratings"] / joined["_rows"],
        implicit_share=joined["_implicit"] / (joined["_implicit"] + joined["_count"]))


def _formulas(sums: dict[str, ir.NumericValue], priors: ir.Table, prior_strength: float,
              implicit_prior_strength: float, count_scale: float) -> dict[str, ir.NumericValue]:
    """The six statistics of one key from its sums and priors (float64)."""
    count, likes, ratings, deviations, implicit = (sums[name].cast("float64") for name in SUMS)
    pseudo = count + prior_strength
    return {
        "log_count": (count * count_scale + 1).ln(),
        "like_rate": (likes + prior_strength * priors["like_rate"]) / pseudo,
        "mean_rating": (ratings + prior_strength * priors["mean_rating"]) / pseudo,
        "mean_deviation": deviations / pseudo,
        "log_implicit_count": (implicit * count_scale + 1).ln(),
        "implicit_share": (implicit + implicit_prior_strength * priors["implicit_share"])
        / (implicit + count + implicit_prior_strength),
    }


def item_statistic_features(rows: ir.Table, statistics: ir.Table, priors: ir.Table,
                            keys: Sequence[str], prior_strength: float,
                            implicit_prior_strength: float, folds: int,
                            row_folds: ir.Table | None = None) -> ir.Table:
    """``rows`` with the six statistics of each key appended (``statistic_columns(keys)``).

    The statistics are computed per key value (and fold) on the small statistics table, then
    joined to the rows; a value unseen in train gets the statistics of count 0 (the priors).

    Args:
        rows: Any rows with the key columns; never their labels.
        statistics, priors: ``count_item_statistics``'s tables.
        keys: The keys to add (those the statistics were counted for).
        prior_strength: Pseudo-ratings of the like rate, mean rating and mean deviation.
        implicit_prior_strength: Pseudo-interactions of the implicit share.
        folds: The number of user folds the statistics were counted over.
        row_folds: ``User-ID`` -> ``fold`` for the train rows the statistics were counted on:
            then each row gets its out-of-fold statistics (``rows`` needs ``User-ID``). ``None``
            for any other rows: the statistics of all train rows.

    Returns:
        ``rows``' columns, then the statistics (float64).
    """
    out_of_fold = row_folds is not None
    count_scale = folds / (folds - 1) if out_of_fold else 1.0
    on_fold = [FOLD_COLUMN] if out_of_fold else []
    totals = _totals(statistics, row_folds)
    key_priors = _priors(statistics, priors, out_of_fold)
    result = rows.join(row_folds, USER_COLUMN) if out_of_fold else rows
    zeros = {name: ibis.literal(0, "float64") for name in SUMS}
    for key in keys:
        prior = key_priors.filter(key_priors["key"] == key).drop("key")
        sums = totals.filter(totals["key"] == key).drop("key")
        sums = sums.join(prior, on_fold) if out_of_fold else sums.cross_join(prior)
        formulas = {"_value": sums["value"], **{f"_{c}": sums[c] for c in on_fold}}
        known = sums.select(**formulas, **{
            f"_{name}": value for name, value in _formulas(
                {name: sums[name] for name in SUMS}, sums, prior_strength,
                implicit_prior_strength, count_scale).items()})
        unseen = prior.select(**{f"_{c}": prior[c] for c in on_fold}, **{
            f"_unseen_{name}": value for name, value in _formulas(
                zeros, prior, prior_strength, implicit_prior_strength, count_scale).items()})
        result = result.left_join(known, [result[key].cast("string") == known["_value"],
                                          *[result[c] == known[f"_{c}"] for c in on_fold]])
        result = (result.join(unseen, [result[c] == unseen[f"_{c}"] for c in on_fold])
                  if out_of_fold else result.cross_join(unseen))
        result = result.mutate(**{
            f"{key}_{name}": result[f"_{name}"].coalesce(result[f"_unseen_{name}"])
            for name in STATISTICS})
        result = result.drop(*[c for c in result.columns
                               if c.startswith("_") and c not in rows.columns])
    return result.select(*rows.columns, *statistic_columns(keys))
