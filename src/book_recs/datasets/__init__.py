"""Project-specific Kedro datasets."""

from .optional_parquet import OptionalParquetDataset
from .optuna_storage import OptunaStorageDataset
from .parquet_batches import ParquetBatchesDataset
from .raw_csv import RawCSVDataset, RawDataError

__all__ = ["OptionalParquetDataset", "OptunaStorageDataset", "ParquetBatchesDataset", "RawCSVDataset",
           "RawDataError"]
