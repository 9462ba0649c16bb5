"""A parquet dataset that loads an empty table while its file does not exist yet.

A cache that a node both reads and extends (the title embeddings) needs two catalog names on
one file, because Kedro forbids a node to read and write the same dataset. The input name uses
this class, so the very first run starts from an empty cache instead of failing; the output
name is a plain ``pandas.ParquetDataset``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro_datasets.pandas import ParquetDataset


class OptionalParquetDataset(ParquetDataset):
    """``pandas.ParquetDataset`` whose load gives an empty frame while the file is absent.

    Args:
        columns: Columns of the empty frame (object dtype: no rows, so no values to type).
        **kwargs: Everything ``pandas.ParquetDataset`` takes (``filepath``, ``load_args``, ...).

    Example catalog entry::

        title_embeddings_cached:
          type: book_recs.datasets.OptionalParquetDataset
          filepath: data/04_feature/title_embeddings.parquet
          columns: [encoder, title, embedding]
    """

    def __init__(self, *, columns: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._empty_columns = list(columns or [])

    def load(self) -> pd.DataFrame:
        if not self._exists():
            return pd.DataFrame(columns=self._empty_columns, dtype=object)
        return super().load()

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "empty_columns": self._empty_columns}
