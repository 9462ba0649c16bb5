"""The feature_engineering pipeline end to end on an in-memory catalog, and the real encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pickle import PickleDataset

from book_recs.datasets import OptionalParquetDataset
from book_recs.features import load_title_encoder
from book_recs.features.transformers import FeatureTransformers
from book_recs.pipelines.feature_engineering import create_pipeline


def run_pipeline(splits: dict[str, pd.DataFrame], implicit: pd.DataFrame, params: dict,
                 folder: Path) -> DataCatalog:
    """One run; the cache and the transformers persist in ``folder`` as in the real catalog."""
    cache_path = str(folder / "title_embeddings.parquet")
    catalog = DataCatalog({
        "cleaned_ratings": MemoryDataset(pd.concat(splits.values(), ignore_index=True)),
        **{f"{name}_ratings": MemoryDataset(frame) for name, frame in splits.items()},
        "implicit_interactions": MemoryDataset(implicit),
        "title_embeddings_cached": OptionalParquetDataset(
            filepath=cache_path, columns=["encoder", "title", "embedding"]),
        "title_embeddings": ParquetDataset(filepath=cache_path),
        "feature_transformers": PickleDataset(filepath=str(folder / "feature_transformers.pkl")),
        "params:feature_engineering": MemoryDataset(params),
    })
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    # Kedro 1.x returns the pipeline's free outputs (no node consumes them), as datasets.
    assert set(outputs) == {"feature_specs", "model_input_train", "model_input_valid",
                            "model_input_test"}
    return catalog


def test_pipeline_builds_model_input_per_split_and_reuses_its_cache(splits, implicit, params,
                                                                     encoder, tmp_path):
    catalog = run_pipeline(splits, implicit, params, tmp_path)
    assert len(encoder.encoded) == 8

    specs = catalog.load("feature_specs")
    assert isinstance(catalog.load("feature_transformers"), FeatureTransformers)
    for split, ratings in splits.items():
        model_input = catalog.load(f"model_input_{split}")
        assert len(model_input) == len(ratings)
        assert list(model_input.columns) == ["User-ID", "ISBN", "Book-Rating", "label",
                                             *[s.name for s in specs]]
        assert not model_input.isna().any().any()

    encoder.encoded.clear()
    rerun = run_pipeline(splits, implicit, params, tmp_path)
    assert encoder.encoded == []
    pd.testing.assert_frame_equal(rerun.load("model_input_test"), catalog.load("model_input_test"))


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
