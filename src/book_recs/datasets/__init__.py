"""Project-specific Kedro datasets."""

from .optional_parquet import OptionalParquetDataset
from .parquet_batches import ParquetBatchesDataset

__all__ = ["OptionalParquetDataset", "ParquetBatchesDataset"]
