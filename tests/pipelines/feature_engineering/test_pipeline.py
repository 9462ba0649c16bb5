"""The feature_engineering pipeline end to end through the project's catalog entries (parquet files
under tmp_path, Ibis on DuckDB), and the real encoder."""

from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from book_recs.columns import KEY_COLUMNS
from book_recs.features import load_title_encoder, statistic_columns
from book_recs.pipelines.feature_engineering import create_pipeline

from ..project_catalog import project_catalog, project_configuration
from .conftest import CountingEncoder, fake_encoder, user_splits

FITTED_TABLES = ("book_titles", "train_titles", "title_components", "statistics_folds",
                 "item_statistics", "statistics_priors", "vocabularies", "scaling_statistics")


def run_pipeline(folder: Path, params: dict, pipeline: Pipeline) -> tuple[DataCatalog,
                                                                         CountingEncoder]:
    """One run on a fresh catalog, as a new ``kedro run`` would see the files."""
    catalog = project_catalog(folder, {"feature_engineering": params})
    with fake_encoder() as encoder:
        SequentialRunner().run(pipeline, catalog)
    return catalog, encoder


@pytest.fixture(scope="module")
def pipeline_params(params) -> dict:
    """The project's feature parameters (item statistics of ISBN, author and publisher over 5
    user folds ...) with the fake encoder."""
    return {**project_configuration()["parameters"]["feature_engineering"],
            "title_encoder": params["title_encoder"]}


@pytest.fixture(scope="module")
def runs(splits, implicit, pipeline_params, tmp_path_factory) -> dict:
    """The stage's inputs written as the data stages write them, a run, then a rerun of what
    the test split's model input needs (every node but the train and valid model inputs)."""
    folder = tmp_path_factory.mktemp("feature_engineering")
    inputs = project_catalog(folder, {})
    inputs.save("cleaned_ratings@pandas", pd.concat(splits.values(), ignore_index=True))
    for split, rows in splits.items():
        inputs.save(f"{split}_ratings@pandas", rows)
    inputs.save("user_splits@pandas", user_splits(splits))
    inputs.save("implicit_interactions@ibis", ibis.memtable(implicit))
    first, first_encoder = run_pipeline(folder, pipeline_params, create_pipeline())
    fitted = {table: first.load(f"{table}@pandas") for table in FITTED_TABLES}
    second, second_encoder = run_pipeline(
        folder, pipeline_params, create_pipeline().to_outputs("model_input_test@ibis"))
    return {"first": first, "first_encoder": first_encoder, "fitted": fitted, "second": second,
            "second_encoder": second_encoder, "folder": folder}


def test_pipeline_builds_model_input_per_split(runs, splits, pipeline_params):
    catalog = runs["first"]
    assert sorted(runs["first_encoder"].encoded) == sorted(
        pd.concat(splits.values())["Book-Title"].unique())
    specs = catalog.load("feature_specs")
    names = [s.name for s in specs]
    assert set(statistic_columns(pipeline_params["item_statistic_keys"])) <= set(names)
    for split, ratings in splits.items():
        model_input = catalog.load(f"model_input_{split}@pandas")
        assert list(model_input.columns) == [*KEY_COLUMNS, *names]
        pd.testing.assert_frame_equal(model_input[list(KEY_COLUMNS)],
                                      ratings[list(KEY_COLUMNS)].reset_index(drop=True),
                                      check_dtype=False)
        assert not model_input.isna().any().any()
    # Every fitted table the served model reads persists as a file under data_dir.
    for table in FITTED_TABLES:
        assert (runs["folder"] / "data" / "04_feature" / f"{table}.parquet").exists(), table


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_rerun_encodes_nothing_and_rebuilds_the_same_model_input(runs):
    assert runs["second_encoder"].encoded == []
    assert len(runs["second"].load("title_embeddings")) == len(runs["first_encoder"].encoded)
    for table, first in runs["fitted"].items():
        # The engine writes grouped tables in any row order: the rows are what must not change.
        pd.testing.assert_frame_equal(sorted_rows(runs["second"].load(f"{table}@pandas")),
                                      sorted_rows(first), check_exact=True)
    pd.testing.assert_frame_equal(runs["second"].load("model_input_test@pandas"),
                                  runs["first"].load("model_input_test@pandas"),
                                  check_exact=True)


TITLES = ["The Lovely Bones: A Novel", "Harry Potter and the Sorcerer's Stone", "Wild Animus",
          "The Da Vinci Code", "Divine Secrets of the Ya-Ya Sisterhood: A Novel",
          "The Red Tent (Bestselling Backlist)", "A Painted House", "Angels &amp; Demons",
          "Die Verwandlung", "El Principito", "Le Petit Prince", "Girl with a Pearl Earring",
          "The Secret Life of Bees", "Where the Heart Is (Oprah's Book Club (Paperback))",
          "Bridget Jones's Diary", "The Pelican Brief", "Snow Falling on Cedars", "Jurassic Park",
          "Timeline", "The Five People You Meet in Heaven"]


def test_packaged_default_encoder_works_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    encoder = load_title_encoder("all-MiniLM-L6-v2")
    vectors = encoder.encode(TITLES)
    assert vectors.shape == (20, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)  # Normalize module
    np.testing.assert_array_equal(encoder.encode(TITLES[:3]), vectors[:3])  # whatever the company
    similarity = vectors @ vectors.T
    # "Le Petit Prince" is closer to "El Principito" than to "Jurassic Park".
    assert similarity[10, 9] > similarity[10, 17]
