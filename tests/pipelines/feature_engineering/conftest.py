"""Tiny hand-made splits with the cleaned_ratings columns, a fake title encoder, and the feature
stage's nodes run on them as the pipeline wires them (Ibis on an in-memory DuckDB)."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.decomposition import PCA

from book_recs.features import empty_title_cache
from book_recs.models.feature_spec import FeatureSpec
from book_recs.pipelines.data_split.nodes import SPLIT_COLUMN
from book_recs.pipelines.feature_engineering.nodes import (
    assign_statistics_folds,
    build_feature_specs,
    build_model_input,
    build_train_model_input,
    count_item_statistics,
    fit_scaling,
    fit_title_pca,
    fit_vocabularies,
    list_titles,
    project_titles,
    update_title_embeddings,
)

EMBEDDING_DIM = 8
ENCODER_LOADER = "book_recs.pipelines.feature_engineering.nodes.load_title_encoder"


class CountingEncoder:
    """Deterministic fake sentence encoder that records every title it encodes.

    Its vectors depend on ``name`` (the encoder name it was loaded as), so two encoder names give
    two different vectors for one title.
    """

    def __init__(self) -> None:
        self.encoded: list[str] = []
        self.name = ""

    def encode(self, sentences: list[str], **kwargs) -> np.ndarray:
        self.encoded.extend(sentences)
        seeds = [zlib.crc32(f"{self.name}|{s}".encode()) for s in sentences]
        return np.stack([np.random.default_rng(seed).normal(size=EMBEDDING_DIM)
                         for seed in seeds]).astype(np.float32)


@contextlib.contextmanager
def fake_encoder() -> Iterator[CountingEncoder]:
    """The fake encoder, returned by the nodes' encoder loader whatever the name and device."""
    fake = CountingEncoder()

    def load(name: str, device: str, processes: int | str) -> CountingEncoder:
        fake.name = name
        return fake

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ENCODER_LOADER, load)
        yield fake


def make_ratings(rows: list[dict], first_row: int = 0) -> pd.DataFrame:
    """cleaned_ratings-shaped rows; unspecified fields get ordinary values. ``row_order`` counts
    from ``first_row`` (splits of one cleaned table never share a row_order)."""
    defaults = {"User-ID": 1, "ISBN": "0001", "Book-Rating": 8, "Book-Title": "Dune",
                "Book-Author": "Frank Herbert", "Year-Of-Publication": 1965.0, "Publisher": "Ace",
                "Age": 30.0, "city": "paris", "state": "ile de france", "country": "france"}
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame["label"] = (frame["Book-Rating"] > 7).astype("int64")
    frame["row_order"] = np.arange(first_row, first_row + len(frame), dtype=np.int64)
    return frame.astype({"User-ID": "int64", "Book-Rating": "int64", "Age": "float64",
                         "Year-Of-Publication": "float64", "ISBN": "str", "Book-Title": "str",
                         "Book-Author": "str", "Publisher": "str", "city": "str", "state": "str",
                         "country": "str"})


def train_rows() -> pd.DataFrame:
    """6 train rows of 6 users (user 1 first): 6 titles, ages 20..40, authors Herbert x4 / Le
    Guin x2."""
    return make_ratings([
        {"User-ID": [1, 11, 12, 13, 14, 15][i], "ISBN": f"b{i}", "Book-Title": f"Train title {i}",
         "Age": 20.0 + 10 * (i % 3),
         "Book-Author": ["Herbert", "Le Guin", "Herbert"][i % 3], "Year-Of-Publication": 1990.0 + i,
         "Publisher": "Ace", "state": ["a", "b"][i % 2], "country": "france"}
        for i in range(6)
    ])


@pytest.fixture(scope="session")
def params() -> dict:
    return {
        "title_encoder": "fake-encoder",
        "title_device": "cpu",
        "title_processes": "auto",
        "pca_variance_share": 0.8,
        "seed": 2021,
        "numeric_fields": ["Age"],
        "categorical_fields": ["Book-Author", "Year-Of-Publication", "Publisher", "state",
                               "country"],
        "user_fields": ["Age", "state", "country"],
        "min_category_count": 1,
        "item_statistic_keys": [],
        "statistics_folds": 2,
    }


@pytest.fixture(scope="session")
def splits() -> dict[str, pd.DataFrame]:
    """Train has 6 titles; valid holds a category, an age and a title seen only there."""
    valid = make_ratings([
        {"User-ID": 2, "ISBN": "v1", "Book-Title": "Valid only title", "Age": 95.0,
         "Book-Author": "Valid-only author", "Year-Of-Publication": 2020.0, "Publisher": "Ace",
         "state": "a", "country": "france"},
        {"User-ID": 2, "ISBN": "b1", "Book-Title": "Train title 1", "Age": 95.0,
         "Book-Author": "Le Guin", "Year-Of-Publication": 1991.0, "Publisher": "Ace",
         "state": "a", "country": "france"},
    ], first_row=100)
    test = make_ratings([
        {"User-ID": 3, "ISBN": "t1", "Book-Title": "Test only title", "Age": np.nan,
         "Book-Author": "Herbert", "Year-Of-Publication": np.nan, "Publisher": "Tor",
         "state": None, "country": None},
    ], first_row=200)
    return {"train": train_rows(), "valid": valid, "test": test}


@pytest.fixture(scope="session")
def implicit() -> pd.DataFrame:
    """Implicit interactions: train user 1 holds the valid book v1 unrated; user 7, in no split
    here, holds b0."""
    return pd.DataFrame({"User-ID": [1, 7], "ISBN": ["v1", "b0"],
                         "Book-Title": ["Valid only title", "Train title 0"],
                         "Book-Author": ["Valid-only author", "Herbert"],
                         "Publisher": ["Ace", "Ace"]})


@pytest.fixture
def encoder() -> Iterator[CountingEncoder]:
    with fake_encoder() as fake:
        yield fake


def user_splits(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``assign_users_to_splits``'s table for these splits: User-ID -> split."""
    return pd.concat([frame[["User-ID"]].drop_duplicates().assign(**{SPLIT_COLUMN: name})
                      for name, frame in splits.items()], ignore_index=True)


@dataclass
class FeatureStage:
    """What the feature stage fitted on the train split, node by node as the pipeline wires
    them; each fitted table is executed once, as the catalog would write it."""

    con: ibis.BaseBackend
    params: dict
    cache: pd.DataFrame
    titles: pd.DataFrame
    train_titles: pd.DataFrame
    title_pca: PCA
    title_components: pd.DataFrame
    folds: pd.DataFrame
    statistics: pa.Table
    priors: pa.Table
    vocabularies: pa.Table
    scaling: pd.DataFrame

    @property
    def specs(self) -> list[FeatureSpec]:
        """``build_feature_specs`` of the fitted tables."""
        return build_feature_specs(self.vocabularies.to_pandas(), self.scaling, self.params)

    def fitted(self) -> dict:
        """The fitted inputs of the model-input nodes, as the catalog hands them over."""
        return {"title_components": ibis.memtable(self.title_components),
                "statistics": ibis.memtable(self.statistics),
                "priors": ibis.memtable(self.priors),
                "vocabularies": ibis.memtable(self.vocabularies),
                "scaling": self.scaling, "params": self.params}

    def build(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``build_model_input`` of any cleaned-like rows (valid, test, a profile)."""
        return self.con.execute(build_model_input(ibis.memtable(rows), **self.fitted()))

    def build_train(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``build_train_model_input``: item statistics out of fold."""
        return self.con.execute(build_train_model_input(
            ibis.memtable(rows), **self.fitted(), folds=ibis.memtable(self.folds)))


def fit_stage(splits: dict[str, pd.DataFrame], implicit: pd.DataFrame, params: dict,
              cache: pd.DataFrame | None = None) -> FeatureStage:
    """Run the fitting nodes of the feature stage on ``splits`` (the fake encoder encodes)."""
    # The default backend: where memtables run, and so where the nodes cache (`Table.cache`).
    con = ibis.get_backend()
    train = ibis.memtable(splits["train"])
    titles = con.execute(list_titles(ibis.memtable(pd.concat(splits.values(),
                                                             ignore_index=True))))
    train_titles = con.execute(list_titles(train))
    if cache is None:
        with fake_encoder():
            cache = update_title_embeddings(titles, empty_title_cache(), params)
    pca = fit_title_pca(train_titles, cache, params)
    components = project_titles(titles, cache, pca, params)
    folds = assign_statistics_folds(user_splits(splits), params)
    # Arrow keeps the decimal deviation sums exact, as the parquet file does.
    statistics, priors = (con.to_pyarrow(table) for table in count_item_statistics(
        train, ibis.memtable(implicit), ibis.memtable(folds), params))
    vocabularies = con.to_pyarrow(fit_vocabularies(train, params))
    scaling = con.execute(fit_scaling(train, ibis.memtable(components), ibis.memtable(statistics),
                                      ibis.memtable(priors), ibis.memtable(folds), params))
    return FeatureStage(con, params, cache, titles, train_titles, pca, components, folds,
                        statistics, priors, vocabularies, scaling)


@pytest.fixture(scope="session")
def stage(splits, implicit, params) -> FeatureStage:
    """The stage fitted with the default parameters (no item statistics)."""
    return fit_stage(splits, implicit, params)
