"""A Kedro dataset that hands a node a lazy reader of a parquet file instead of a DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from book_recs.models.streaming import ParquetBatches


class ParquetBatchesDataset(AbstractDataset[Any, ParquetBatches]):
    """Loads a ``ParquetBatches`` (a path and the file's parquet metadata; rows are read later, a
    row group at a time or whole) so that a training node can stream a table larger than memory.
    Read-only: the table is written under another catalog name (a ``pandas.ParquetDataset``).

    Args:
        filepath: The parquet file (local).

    Example catalog entry::

        "model_input_{split}_batches":
          type: book_recs.datasets.ParquetBatchesDataset
          filepath: ${globals:data_dir}/05_model_input/model_input_{split}.parquet
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> ParquetBatches:
        if not self._exists():
            raise DatasetError(f"no parquet file at {self._filepath}")
        return ParquetBatches(str(self._filepath))

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only; save the table under its "
                           f"pandas.ParquetDataset name")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
