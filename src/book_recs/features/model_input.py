"""Cleaned-like rows to model input, as Ibis expressions on whichever engine holds the tables.

One path for every caller: the feature stage builds the train/valid/test model input with it, and
the recommendation pipeline and the served model build the model input of (reader, book) rows with
it, so nothing about a feature is written twice. What is fitted on train lives in small tables:

- ``vocabularies`` (``fit_vocabularies``): field, token, id (1.. in token order; 0 = out of
  vocabulary: unseen, or rarer than ``min_category_count``), as sklearn's ``OrdinalEncoder`` with
  ``min_frequency`` numbers them;
- ``scaling`` (``fit_scaling``): per numeric column its train median, minimum and maximum: missing
  values take the median, then ``x * scale + offset`` clipped to [0, 1] with the constants of
  sklearn's ``MinMaxScaler``, so the numbers equal sklearn's ``SimpleImputer`` + ``MinMaxScaler``;
- the title components and the item statistics (``title_components``, ``item_statistics``).

Model-input columns: see ``book_recs.features.fields``.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from book_recs.columns import KEY_COLUMNS
from book_recs.features.fields import (
    MISSING_CATEGORY,
    TITLE_FIELD,
    FieldConfig,
    Side,
    statistic_columns,
)
from book_recs.features.item_statistics import item_statistic_features

ORDER_COLUMN = "row_order"
"""When the rows have it, the model input keeps their order by it (the pipeline's cleaned rows,
a request's readers and candidates)."""
SCALING_STATISTICS = ("median", "minimum", "maximum")
VALUES_PER_PASS = 2**26
"""Values (rows x columns) whose medians ``fit_scaling`` takes in one aggregate: bounds its memory
(~20 bytes a value in DuckDB: ~1.4 GB) and spares small tables a pass per few columns (each pass is
a query that Spark plans anew)."""


def _field(rows: ir.Table, name: str, dtype: str) -> ir.Value:
    """A field of ``rows``; an absent field is missing in every row (e.g. a profile without Age)."""
    return rows[name] if name in rows.columns else ibis.null(dtype)


def category_tokens(values: ir.Value) -> ir.StringValue:
    """Values as vocabulary tokens: a year 1999.0 becomes "1999", missing becomes "unknown"."""
    if values.type().is_floating():
        values = values.round().cast("int64")
    return values.cast("string").fill_null(MISSING_CATEGORY)


def fit_vocabularies(train: ir.Table, config: FieldConfig) -> ir.Table:
    """Per categorical field, the ids of the train tokens seen at least ``min_category_count``
    times, numbered 1.. in token order.

    Returns:
        Columns ``field``, ``token``, ``id`` (int64).
    """
    parts = []
    for name in config.categorical_fields:
        tokens = train.select(token=category_tokens(train[name]))
        frequent = (tokens.group_by("token").aggregate(_count=tokens.count())
                    .filter(ibis._["_count"] >= config.min_category_count))
        parts.append(frequent.select(
            field=ibis.literal(name), token="token",
            id=(ibis.row_number().over(order_by="token") + 1).cast("int64")))
    return ibis.union(*parts).order_by(["field", "id"])


def numeric_features(rows: ir.Table, config: FieldConfig, title_components: ir.Table,
                     statistics: ir.Table, priors: ir.Table,
                     row_folds: ir.Table | None = None, side: Side | None = None) -> ir.Table:
    """``rows`` with their unscaled numeric columns (float64, null where unknown): the numeric
    fields, the title components (null for a title without components) and the item statistics
    (out of fold for train rows when ``row_folds`` is given; see ``item_statistic_features``);
    only those of one ``side`` when it is given."""
    def wanted(column: str) -> bool:
        return side is None or config.context(column) == side

    numbers = rows.mutate(**{
        config.numeric_column(name): _field(rows, name, "float64").cast("float64")
        for name in config.numeric_fields if wanted(config.numeric_column(name))})
    keys = [key for key in config.item_statistic_keys if wanted(f"{key}_log_count")]
    if keys:
        # A key the rows lack (e.g. a reader's profile) is unknown: its statistics are the priors.
        numbers = numbers.mutate(**{key: ibis.null("string") for key in keys
                                    if key not in numbers.columns})
        numbers = item_statistic_features(
            numbers, statistics, priors, keys, config.statistics_prior_strength,
            config.implicit_prior_strength, config.statistics_folds, row_folds)
    if wanted(f"{TITLE_FIELD}_0"):
        # The widest table last: every join before it would carry its ~150 columns.
        components = title_components.rename(_title=TITLE_FIELD)
        numbers = numbers.left_join(
            components, _field(numbers, TITLE_FIELD, "string") == components["_title"]
        ).drop("_title")
    return numbers


def numeric_columns(config: FieldConfig, title_components: ir.Table | pd.DataFrame) -> list[str]:
    """The numeric model-input columns, in order."""
    titles = [c for c in title_components.columns if c != TITLE_FIELD]
    return ([config.numeric_column(name) for name in config.numeric_fields] + titles
            + statistic_columns(config.item_statistic_keys))


def fit_scaling(numbers: ir.Table, columns: list[str]) -> pd.DataFrame:
    """Train median, minimum and maximum of each numeric column (nulls ignored), in one row:
    column ``<statistic>:<column>`` for each of ``SCALING_STATISTICS``.

    The numbers are computed once, then reduced in passes of at most ``VALUES_PER_PASS`` values:
    a median holds every value of its column in memory and cannot spill, so ~165 medians in one
    aggregate peaked at 14.7 GB on 4.3M train rows (15 columns a pass there; all at once on the
    full data's 0.3M).
    """
    reductions = {"median": "median", "minimum": "min", "maximum": "max"}
    passes = []
    with numbers.select(*columns).cache() as cached:
        columns_per_pass = max(1, VALUES_PER_PASS // max(1, cached.count().execute()))
        for start in range(0, len(columns), columns_per_pass):
            chunk = columns[start:start + columns_per_pass]
            passes.append(cached.aggregate(**{
                f"{statistic}:{column}": getattr(cached[column].cast("float64"), reduction)()
                for column in chunk for statistic, reduction in reductions.items()}).execute())
    return pd.concat(passes, axis=1)


@dataclass(frozen=True)
class ColumnScaling:
    """Imputation and min-max constants of one numeric column (sklearn's, to the last bit)."""

    median: float
    scale: float
    offset: float

    @classmethod
    def from_statistics(cls, median: float, minimum: float, maximum: float) -> ColumnScaling:
        """As ``SimpleImputer(strategy="median", keep_empty_features=True)`` then
        ``MinMaxScaler``: a column never seen in train imputes 0; a constant column scales by 1."""
        if np.isnan(median):
            return cls(0.0, 1.0, 0.0)
        data_range = maximum - minimum
        scale = 1.0 / (data_range if data_range >= 10 * np.finfo(np.float64).eps else 1.0)
        return cls(float(median), float(scale), float(0.0 - minimum * scale))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``build_model_input``'s scaled column of ``values`` (NaN where missing), in numpy: the
        same float64 operations, then float32, so the same bits as its SQL."""
        filled = np.where(np.isnan(values), self.median, values)
        return np.maximum(np.minimum(filled * self.scale + self.offset, 1.0), 0.0).astype(np.float32)


def column_scalings(scaling: pd.DataFrame) -> dict[str, ColumnScaling]:
    """The one-row ``fit_scaling`` table (loaded as pandas) as constants per column."""
    values = scaling.iloc[0]
    columns = dict.fromkeys(name.split(":", 1)[1] for name in scaling.columns)
    return {column: ColumnScaling.from_statistics(
        *(float(values[f"{statistic}:{column}"]) for statistic in SCALING_STATISTICS))
        for column in columns}


def build_model_input(rows: ir.Table, config: FieldConfig, title_components: ir.Table,
                      statistics: ir.Table, priors: ir.Table, vocabularies: ir.Table,
                      scaling: pd.DataFrame, row_folds: ir.Table | None = None,
                      side: Side | None = None, materialize: bool = False) -> ir.Table:
    """Model input for any cleaned-like rows, with what was fitted on train.

    Never fails on new data: unseen or rare categories get the OOV id 0, missing categories are
    the token "unknown", missing numbers (and titles without components) get the train median,
    numbers outside the train range are clipped to [0, 1].

    Args:
        rows: Rows with the cleaned columns (Book-Rating and label may be absent when scoring,
            e.g. a new reader crossed with candidate books; an absent field is missing).
        config: The field configuration.
        title_components, statistics, priors, vocabularies: The fitted tables.
        scaling: ``fit_scaling``'s one-row table, as pandas.
        row_folds: ``User-ID`` -> fold, only for the train rows the statistics were counted on
            (their item statistics are then out of fold).
        side: ``user`` or ``item``: only the feature columns of that side (e.g. readers alone, or
            candidate books alone, whose columns a recommender puts side by side); ``None``: all.
        materialize: Compute the rows (``Table.cache``, eagerly) before sorting them by
            ``row_order``: what a table of millions of rows needs within an engine's memory limit.

    Returns:
        One row per input row (in ``row_order`` when the rows have it): the ID columns present,
        numeric columns as float32, categorical ids as int64.
    """
    categorical = [name for name in config.categorical_fields
                   if side is None or config.context(name) == side]
    table = rows
    for name in categorical:
        vocabulary = (vocabularies.filter(vocabularies["field"] == name)
                      .select(_token="token", **{f"_id_{name}": "id"}))
        table = table.left_join(vocabulary, category_tokens(_field(table, name, "string"))
                                == vocabulary["_token"]).drop("_token")
    table = numeric_features(table, config, title_components, statistics, priors, row_folds,
                             side)
    constants = {column: constant for column, constant in column_scalings(scaling).items()
                 if side is None or config.context(column) == side}
    # greatest/least, not clip(): clip's null handling repeats the expression in SQL, and the
    # value is never null here. ``ColumnScaling.apply`` is its numpy twin: change both.
    scaled = {
        column: ibis.greatest(ibis.least(
            table[column].fill_null(constant.median) * constant.scale + constant.offset, 1.0),
            0.0).cast("float32")
        for column, constant in constants.items()}
    ids = {name: table[f"_id_{name}"].fill_null(0).cast("int64") for name in categorical}
    keys = [c for c in KEY_COLUMNS if c in rows.columns]
    if ORDER_COLUMN not in table.columns:
        return table.select(*keys, **scaled, **ids)
    table = table.select(*keys, ORDER_COLUMN, **scaled, **ids)
    if materialize:
        # DuckDB cannot spill a sort fed by joins whose tables it still holds: at 16x the data
        # the train model input failed within an 8 GB limit unless computed before sorting.
        table = table.cache()
    return table.order_by(ORDER_COLUMN).drop(ORDER_COLUMN)


@dataclass(frozen=True)
class FittedFeatures:
    """Everything the feature stage fitted on train, bound to one engine: a notebook, the
    recommendations or the served model build model input with ``build(rows)``.

    Attributes:
        config: The field configuration.
        title_components, statistics, priors, vocabularies: The fitted tables (Ibis).
        scaling: ``fit_scaling``'s one-row table (pandas).
    """

    config: FieldConfig
    title_components: ir.Table
    statistics: ir.Table
    priors: ir.Table
    vocabularies: ir.Table
    scaling: pd.DataFrame

    def build(self, rows: ir.Table, row_folds: ir.Table | None = None,
              side: Side | None = None) -> ir.Table:
        """``build_model_input`` of ``rows`` with these tables."""
        return build_model_input(rows, self.config, self.title_components, self.statistics,
                                 self.priors, self.vocabularies, self.scaling, row_folds, side)
