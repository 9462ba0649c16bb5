"""Which cleaned columns become which model fields, and the names of the model-input columns.

Model-input columns: the ID columns present (User-ID, ISBN, Book-Rating, label), then numeric
fields (float32, median-imputed, min-max scaled to [0, 1] and clipped there: the numeric fields,
the title components, then the train-only item statistics), then categorical fields (int64 ids;
0 = out of vocabulary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from book_recs.features.title_embeddings import DEFAULT_ENCODER, encoder_key
from book_recs.models.feature_spec import FeatureSpec

TITLE_FIELD = "Book-Title"
MISSING_CATEGORY = "unknown"
# A field both numeric and categorical (e.g. the year) gets this suffix on its numeric column.
NUMERIC_COPY_SUFFIX = "_numeric"
Side = Literal["user", "item"]
STATISTICS = ("log_count", "like_rate", "mean_rating", "mean_deviation", "log_implicit_count",
              "implicit_share")


def statistic_columns(keys: Sequence[str]) -> list[str]:
    """Item-statistic column names, key by key: ``<key>_<statistic>`` for each of ``STATISTICS``.

    >>> statistic_columns(["ISBN"])[:2]
    ['ISBN_log_count', 'ISBN_like_rate']
    """
    return [f"{key}_{statistic}" for key in keys for statistic in STATISTICS]


def title_columns(components: int) -> list[str]:
    """Names of the title's PCA components: ``Book-Title_0`` ... ``Book-Title_<n-1>``."""
    return [f"{TITLE_FIELD}_{i}" for i in range(components)]


@dataclass(frozen=True)
class FieldConfig:
    """Which cleaned columns become which model fields, and how they are fitted.

    Attributes:
        numeric_fields: Numeric columns; the title components are added after them.
        categorical_fields: Columns turned into vocabulary ids.
        user_fields: The user side (FinalMLP's user-stream gate context); the rest is item side.
        title_encoder: Cache key (``encoder_key``) of the title embeddings used.
        pca_variance_share: Share of title-embedding variance the PCA keeps.
        min_category_count: Train values seen fewer times map to the OOV id.
        item_statistic_keys: Item columns that get train-only statistics (see
            ``item_statistics``); empty for none.
        statistics_prior_strength: Pseudo-ratings smoothing those rates toward train-wide values.
        implicit_prior_strength: Pseudo-interactions smoothing the implicit share.
        statistics_folds: User folds of the out-of-fold statistics of the train rows.
        seed: PCA random state and the user-to-fold draw.
    """

    numeric_fields: tuple[str, ...] = ("Age",)
    categorical_fields: tuple[str, ...] = ("Book-Author", "Year-Of-Publication", "Publisher",
                                           "state", "country")
    user_fields: tuple[str, ...] = ("Age", "state", "country")
    title_encoder: str = encoder_key(DEFAULT_ENCODER, "cpu")
    pca_variance_share: float = 0.8
    min_category_count: int = 1
    item_statistic_keys: tuple[str, ...] = ()
    statistics_prior_strength: float = 10.0
    implicit_prior_strength: float = 1.0
    statistics_folds: int = 5
    seed: int = 2021

    def __post_init__(self) -> None:
        known = {*self.numeric_fields, *self.categorical_fields, TITLE_FIELD}
        if unknown := set(self.user_fields) - known:
            raise ValueError(f"user_fields {sorted(unknown)} are not model fields {sorted(known)}")
        if min(self.statistics_prior_strength, self.implicit_prior_strength) <= 0:
            raise ValueError("statistics_prior_strength and implicit_prior_strength must be > 0, "
                             f"got {self.statistics_prior_strength}, {self.implicit_prior_strength}")
        if self.statistics_folds < 2:
            raise ValueError(f"statistics_folds must be at least 2, got {self.statistics_folds}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FieldConfig:
        """From the ``feature_engineering`` parameters (keys the config does not use, such as the
        encoder's batch size, are ignored)."""
        return cls(
            numeric_fields=tuple(params["numeric_fields"]),
            categorical_fields=tuple(params["categorical_fields"]),
            user_fields=tuple(params["user_fields"]),
            title_encoder=encoder_key(params["title_encoder"], params["title_device"]),
            pca_variance_share=params["pca_variance_share"],
            min_category_count=params["min_category_count"],
            item_statistic_keys=tuple(params.get("item_statistic_keys", ())),
            statistics_prior_strength=params.get("statistics_prior_strength",
                                                 cls.statistics_prior_strength),
            implicit_prior_strength=params.get("implicit_prior_strength",
                                               cls.implicit_prior_strength),
            statistics_folds=params.get("statistics_folds", cls.statistics_folds),
            seed=params["seed"],
        )

    def numeric_column(self, field: str) -> str:
        """The model-input column of a numeric field (suffixed when it is also categorical)."""
        return field + NUMERIC_COPY_SUFFIX if field in self.categorical_fields else field

    def feature_specs(self, numeric_columns: Sequence[str],
                      vocab_sizes: dict[str, int]) -> list[FeatureSpec]:
        """One FeatureSpec per model-input field, in column order, each with its stream context.

        Args:
            numeric_columns: The numeric model-input columns, in order.
            vocab_sizes: Ids per categorical field, the OOV id 0 included.
        """
        numeric = [FeatureSpec(name, "numeric", context=self.context(name))
                   for name in numeric_columns]
        categorical = [FeatureSpec(name, "categorical", vocab_size=vocab_sizes[name],
                                   context=self.context(name))
                       for name in self.categorical_fields]
        return numeric + categorical

    def context(self, column: str) -> Side:
        """The side a model-input column describes: ``user`` for the user fields (and their
        numeric copies), ``item`` for everything else (titles and item statistics included)."""
        source = column.removesuffix(NUMERIC_COPY_SUFFIX)
        source = TITLE_FIELD if source.startswith(f"{TITLE_FIELD}_") else source
        return "user" if source in self.user_fields else "item"
