"""Project-specific Kedro datasets."""

from .optional_parquet import OptionalParquetDataset
from .optuna_storage import OptunaStorageDataset

__all__ = ["OptionalParquetDataset", "OptunaStorageDataset"]
