"""Project-specific Kedro datasets."""

from .optional_parquet import OptionalParquetDataset

__all__ = ["OptionalParquetDataset"]
