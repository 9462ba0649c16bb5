"""Project-specific Kedro datasets."""

from .optional_parquet import OptionalParquetDataset
from .optuna_storage import OptunaStorageDataset
from .raw_csv import RawCSVDataset, RawDataError

__all__ = ["OptionalParquetDataset", "OptunaStorageDataset", "RawCSVDataset", "RawDataError"]
