"""Everything fitted on the train split that turns cleaned rows into model input.

Plain Python (no Kedro): the pipeline fits ``FeatureTransformers`` on train and pickles it; a
notebook or an application scores new rows with the same object:

    >>> transformers = FeatureTransformers.fit(train, title_cache, FieldConfig())  # doctest: +SKIP
    >>> model_input = build_model_input(new_rows, title_cache, transformers)      # doctest: +SKIP

Model-input columns: the ID columns present (User-ID, ISBN, Book-Rating, label), then numeric
fields (float32, median-imputed, min-max scaled to [0, 1] and clipped there: the numeric fields,
the title components, then the train-only item statistics), then categorical fields (int64 ids;
0 = out of vocabulary).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OrdinalEncoder

from book_recs.columns import KEY_COLUMNS
from book_recs.features.item_statistics import ItemStatistics, statistic_columns
from book_recs.features.title_embeddings import DEFAULT_ENCODER, encoder_key, title_matrix
from book_recs.models.feature_spec import FeatureSpec

logger = logging.getLogger(__name__)

TITLE_FIELD = "Book-Title"
MISSING_CATEGORY = "unknown"
# A field both numeric and categorical (e.g. the year) gets this suffix on its numeric column.
NUMERIC_COPY_SUFFIX = "_numeric"


@dataclass(frozen=True)
class FieldConfig:
    """Which cleaned columns become which model fields, and how they are fitted.

    Attributes:
        numeric_fields: Numeric columns; the title components are added after them.
        categorical_fields: Columns turned into vocabulary ids.
        title_encoder: Cache key (``encoder_key``) of the title embeddings used.
        pca_variance_share: Share of title-embedding variance the PCA keeps.
        min_category_count: Train values seen fewer times map to the OOV id.
        item_statistic_keys: Item columns that get train-only statistics (count, like rate,
            mean rating; see ``item_statistics``); empty for none.
        statistics_prior_strength: Pseudo-ratings smoothing those rates toward train-wide values.
        implicit_prior_strength: Pseudo-interactions smoothing the implicit share.
        statistics_folds: User folds of the out-of-fold statistics of the train rows.
        seed: PCA random state and the user-to-fold draw.
    """

    numeric_fields: tuple[str, ...] = ("Age",)
    categorical_fields: tuple[str, ...] = ("Book-Author", "Year-Of-Publication", "Publisher",
                                           "state", "country")
    title_encoder: str = encoder_key(DEFAULT_ENCODER, "cpu")
    pca_variance_share: float = 0.8
    min_category_count: int = 1
    item_statistic_keys: tuple[str, ...] = ()
    statistics_prior_strength: float = 10.0
    implicit_prior_strength: float = 1.0
    statistics_folds: int = 5
    seed: int = 2021

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FieldConfig:
        """From the ``feature_engineering`` parameters."""
        return cls(
            numeric_fields=tuple(params["numeric_fields"]),
            categorical_fields=tuple(params["categorical_fields"]),
            title_encoder=encoder_key(params["title_encoder"], params["title_device"]),
            pca_variance_share=params["pca_variance_share"],
            min_category_count=params["min_category_count"],
            # Optional keys: absent means the field's default (no item statistics).
            item_statistic_keys=tuple(params.get("item_statistic_keys", cls.item_statistic_keys)),
            statistics_prior_strength=params.get("statistics_prior_strength",
                                                 cls.statistics_prior_strength),
            implicit_prior_strength=params.get("implicit_prior_strength",
                                               cls.implicit_prior_strength),
            statistics_folds=params.get("statistics_folds", cls.statistics_folds),
            seed=params["seed"],
        )


def category_tokens(values: pd.Series) -> pd.Series:
    """Values as vocabulary tokens: a year 1999.0 becomes "1999", missing becomes "unknown"."""
    if pd.api.types.is_float_dtype(values):
        values = values.round().astype("Int64")
    return values.astype("str").fillna(MISSING_CATEGORY).astype(object)


@dataclass
class FeatureTransformers:
    """Title PCA, numeric imputer + scaler and category encoder, all fitted on train.

    Attributes:
        config: The field configuration it was fitted with.
        title_pca: PCA of title embeddings, fitted on the train split's unique titles.
        numeric_scaler: Median imputer then min-max scaler (clipped), fitted on train rows.
        category_encoder: ``OrdinalEncoder`` fitted on train rows; unknown values give -1, values
            rarer than ``min_category_count`` form sklearn's "infrequent" code; both become OOV.
        numeric_columns: Model-input names of the numeric fields, title components and item
            statistics included.
        item_statistics: Train-only item statistics (``None`` without ``item_statistic_keys``).
    """

    config: FieldConfig
    title_pca: PCA
    numeric_scaler: Pipeline
    category_encoder: OrdinalEncoder
    numeric_columns: list[str] = field(default_factory=list)
    item_statistics: ItemStatistics | None = None

    @property
    def title_columns(self) -> list[str]:
        return [f"{TITLE_FIELD}_{i}" for i in range(self.title_pca.n_components_)]

    @property
    def vocab_sizes(self) -> dict[str, int]:
        """Ids per categorical field, OOV id 0 included."""
        return {name: len(categories) - len(self._infrequent(i)) + 1
                for i, (name, categories) in enumerate(zip(self.config.categorical_fields,
                                                           self.category_encoder.categories_))}

    @classmethod
    def fit(cls, train: pd.DataFrame, title_cache: pd.DataFrame, config: FieldConfig,
            implicit: pd.DataFrame | None = None) -> FeatureTransformers:
        """Fit on the train split only: PCA on its unique titles, the rest on its rows and on the
        train users' ``implicit`` interactions (item statistics; ``None``: none)."""
        titles = pd.Series(train[TITLE_FIELD].dropna().unique())
        title_pca = PCA(n_components=config.pca_variance_share, svd_solver="full",
                        random_state=config.seed)
        title_pca.fit(title_matrix(title_cache, config.title_encoder, titles))
        logger.info("title PCA: %d components keep %.0f%% of the variance of %d train titles",
                    title_pca.n_components_, 100 * config.pca_variance_share, len(titles))
        numeric_columns = [
            name + NUMERIC_COPY_SUFFIX if name in config.categorical_fields else name
            for name in config.numeric_fields
        ] + [f"{TITLE_FIELD}_{i}" for i in range(title_pca.n_components_)]
        item_statistics = None
        if config.item_statistic_keys:
            item_statistics = ItemStatistics.fit(
                train, config.item_statistic_keys, config.statistics_prior_strength,
                config.statistics_folds, config.seed, implicit=implicit,
                implicit_prior_strength=config.implicit_prior_strength)
            numeric_columns += statistic_columns(config.item_statistic_keys)
        transformers = cls(
            config=config,
            title_pca=title_pca,
            # keep_empty_features: a field with no value in train still gets its column.
            numeric_scaler=make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                         MinMaxScaler(clip=True)),
            category_encoder=OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                            min_frequency=config.min_category_count,
                                            dtype=np.int64),
            numeric_columns=numeric_columns,
            item_statistics=item_statistics,
        )
        transformers.numeric_scaler.fit(
            transformers._raw_numeric(train, title_cache, out_of_fold=True))
        transformers.category_encoder.fit(transformers._tokens(train))
        logger.info("vocabulary sizes (OOV included): %s", transformers.vocab_sizes)
        return transformers

    def transform(self, ratings: pd.DataFrame, title_cache: pd.DataFrame,
                  out_of_fold: bool = False) -> pd.DataFrame:
        """Model input for ``ratings``; see ``build_model_input``. ``out_of_fold=True`` only for
        the train rows the transformers were fitted on (item statistics from the other folds)."""
        ids = ratings[[c for c in KEY_COLUMNS if c in ratings.columns]].reset_index(drop=True)
        scaled = self.numeric_scaler.transform(
            self._raw_numeric(ratings, title_cache, out_of_fold))
        numeric = pd.DataFrame(scaled.astype(np.float32), columns=self.numeric_columns)
        categorical = pd.DataFrame(self._category_ids(ratings),
                                   columns=list(self.config.categorical_fields))
        return pd.concat([ids, numeric, categorical], axis=1)

    def feature_specs(self, user_fields: list[str]) -> list[FeatureSpec]:
        """One FeatureSpec per model-input field, in column order.

        Args:
            user_fields: Cleaned fields on the user side; every other field is item context.
        """
        known = {*self.config.numeric_fields, *self.config.categorical_fields, TITLE_FIELD}
        if unknown := set(user_fields) - known:
            raise ValueError(f"user_fields {sorted(unknown)} are not model fields {sorted(known)}")

        def context(column: str) -> str:
            source = column.removesuffix(NUMERIC_COPY_SUFFIX)
            source = TITLE_FIELD if source.startswith(f"{TITLE_FIELD}_") else source
            return "user" if source in user_fields else "item"

        numeric = [FeatureSpec(name, "numeric", context=context(name))
                   for name in self.numeric_columns]
        categorical = [FeatureSpec(name, "categorical", vocab_size=size, context=context(name))
                       for name, size in self.vocab_sizes.items()]
        return numeric + categorical

    def _raw_numeric(self, ratings: pd.DataFrame, title_cache: pd.DataFrame,
                     out_of_fold: bool = False) -> np.ndarray:
        """Unscaled numeric matrix: numeric fields, PCA components (NaN where unknown), then the
        item statistics."""
        # Project each unique title once, then spread to rows: rows outnumber titles ~3 to 1.
        codes, titles = pd.factorize(self._column(ratings, TITLE_FIELD))
        embeddings = title_matrix(title_cache, self.config.title_encoder, pd.Series(titles))
        title_components = np.full((len(titles) + 1, self.title_pca.n_components_), np.nan)
        known = ~np.isnan(embeddings).any(axis=1)
        if known.any():
            title_components[:-1][known] = self.title_pca.transform(embeddings[known])
        components = title_components[codes]  # a missing title (code -1) takes the NaN last row
        fields = [pd.to_numeric(self._column(ratings, name), errors="coerce").to_numpy(np.float64)
                  for name in self.config.numeric_fields]
        return np.column_stack([*fields, components, self._statistics(ratings, out_of_fold)])

    def _statistics(self, ratings: pd.DataFrame, out_of_fold: bool) -> np.ndarray:
        if self.item_statistics is None:
            return np.empty((len(ratings), 0))
        if out_of_fold:
            return self.item_statistics.transform_out_of_fold(
                ratings.reset_index(drop=True)).to_numpy(np.float64)
        keys = pd.DataFrame({key: self._column(ratings, key)
                             for key in self.item_statistics.keys})
        return self.item_statistics.transform(keys).to_numpy(np.float64)

    def _tokens(self, ratings: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({name: category_tokens(self._column(ratings, name)).to_numpy()
                             for name in self.config.categorical_fields})

    def _category_ids(self, ratings: pd.DataFrame) -> np.ndarray:
        codes = self.category_encoder.transform(self._tokens(ratings)).astype(np.int64)
        for i in range(codes.shape[1]):
            # sklearn puts the infrequent group after the frequent categories: fold it into OOV.
            n_frequent = len(self.category_encoder.categories_[i]) - len(self._infrequent(i))
            codes[codes[:, i] >= n_frequent, i] = -1
        return codes + 1  # -1 (unknown or rare) -> 0 = OOV_ID, category j -> id j + 1

    def _infrequent(self, field_index: int) -> np.ndarray:
        infrequent = self.category_encoder.infrequent_categories_[field_index]
        return np.empty(0) if infrequent is None else infrequent

    @staticmethod
    def _column(ratings: pd.DataFrame, name: str) -> pd.Series:
        """A field of ``ratings``; an absent field is all missing (e.g. a profile without Age)."""
        if name in ratings.columns:
            return ratings[name].reset_index(drop=True)
        logger.warning("field %r is absent: treated as missing in all %d rows", name, len(ratings))
        return pd.Series([np.nan] * len(ratings), dtype="float64")


def build_model_input(
    ratings: pd.DataFrame, title_embeddings: pd.DataFrame, transformers: FeatureTransformers
) -> pd.DataFrame:
    """Model input for any cleaned-like rows with the transformers fitted on train.

    Never fails on new data: unseen or rare categories get the OOV id 0, missing categories are
    the token "unknown", missing numbers (and titles without a cached embedding) get the train
    median, numbers outside the train range are clipped to [0, 1].

    Args:
        ratings: Rows with the ``cleaned_ratings`` columns (Book-Rating and label may be absent
            when scoring, e.g. a new user profile crossed with candidate books).
        title_embeddings: The title-embedding cache (rows of the transformers' encoder are used).
        transformers: ``FeatureTransformers`` fitted on the train split.

    Returns:
        One row per input row: the ID columns present, numeric fields as float32, categorical
        fields as int64 ids, in the order of ``transformers.feature_specs(...)``.
    """
    return transformers.transform(ratings, title_embeddings)


def build_train_model_input(
    ratings: pd.DataFrame, title_embeddings: pd.DataFrame, transformers: FeatureTransformers
) -> pd.DataFrame:
    """Model input of the train rows the transformers were fitted on: as ``build_model_input``,
    but each row's item statistics come from the other user folds, never from its own label."""
    return transformers.transform(ratings, title_embeddings, out_of_fold=True)
