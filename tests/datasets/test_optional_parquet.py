"""OptionalParquetDataset: empty while absent, a plain parquet round trip once saved."""

from __future__ import annotations

import numpy as np
import pandas as pd
from kedro.io import DataCatalog

from book_recs.datasets import OptionalParquetDataset


def test_loads_an_empty_frame_with_its_columns_while_the_file_is_absent(tmp_path):
    dataset = OptionalParquetDataset(filepath=str(tmp_path / "cache.parquet"),
                                     columns=["encoder", "title", "embedding"])
    assert not dataset.exists()
    loaded = dataset.load()
    assert loaded.empty
    assert list(loaded.columns) == ["encoder", "title", "embedding"]


def test_round_trips_vector_columns_and_shares_the_file_with_a_plain_parquet_name(tmp_path):
    path = str(tmp_path / "cache.parquet")
    catalog = DataCatalog.from_config({
        "cache_cached": {"type": "book_recs.datasets.OptionalParquetDataset", "filepath": path,
                         "columns": ["encoder", "title", "embedding"]},
        "cache": {"type": "pandas.ParquetDataset", "filepath": path},
    })
    cache = pd.DataFrame({"encoder": ["e", "e"], "title": ["A", "B"],
                          "embedding": [np.array([1.0, 2.0], dtype=np.float32),
                                        np.array([3.0, 4.5], dtype=np.float32)]})
    catalog.save("cache", cache)
    loaded = catalog.load("cache_cached")
    assert loaded[["encoder", "title"]].to_dict("list") == {"encoder": ["e", "e"],
                                                            "title": ["A", "B"]}
    np.testing.assert_array_equal(np.stack(loaded["embedding"].to_numpy()),
                                  [[1.0, 2.0], [3.0, 4.5]])
