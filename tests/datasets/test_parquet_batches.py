"""ParquetBatchesDataset: a lazy reader of the file a pandas.ParquetDataset wrote; read-only."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError

from book_recs.models.streaming import ParquetBatches


def test_loads_a_lazy_reader_of_the_file_another_name_wrote(tmp_path):
    path = str(tmp_path / "model_input_train.parquet")
    catalog = DataCatalog.from_config({
        "model_input_train": {"type": "pandas.ParquetDataset", "filepath": path,
                              "save_args": {"row_group_size": 4}},
        "model_input_train@batches": {"type": "book_recs.datasets.ParquetBatchesDataset", "filepath": path},
    })
    frame = pd.DataFrame({"a": range(10), "b": [float(i) / 2 for i in range(10)]})
    catalog.save("model_input_train", frame)
    reader = catalog.load("model_input_train@batches")
    assert isinstance(reader, ParquetBatches)
    assert (reader.num_rows, reader.num_row_groups, reader.columns) == (10, 3, ["a", "b"])
    pd.testing.assert_frame_equal(reader.read(), frame)
    pd.testing.assert_frame_equal(reader.read_row_group(2, columns=["b", "missing"]), frame[["b"]].iloc[8:].reset_index(drop=True))
    with pytest.raises(DatasetError, match="read-only"):
        catalog.save("model_input_train@batches", frame)


def test_a_missing_file_is_named(tmp_path):
    catalog = DataCatalog.from_config({"batches": {"type": "book_recs.datasets.ParquetBatchesDataset",
                                                   "filepath": str(tmp_path / "absent.parquet")}})
    with pytest.raises(DatasetError, match="absent.parquet"):
        catalog.load("batches")
