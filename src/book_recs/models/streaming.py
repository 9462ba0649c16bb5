"""Training rows read from a parquet file a row group at a time, so memory does not grow with rows.

``ParquetBatches`` is a lazy handle on a model-input file (a path and its parquet metadata;
``book_recs.datasets.ParquetBatchesDataset`` hands one to a Kedro node). ``streamed_batches``
shuffles in two stages, both seeded: the order of the row groups, then the rows inside a bounded
shuffle buffer of whole row groups. Peak memory is about one buffer, whatever the file's size.

This is not the in-memory shuffle (one permutation of every row): the same seed gives the same
batches in stream mode, but not the batches, hence not the model, of the in-memory mode. The
pipeline's model-input files are written by DuckDB in row groups of 122,880 rows; a file written
as one row group (pandas' default below a million rows) streams as one block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import torch
from torch import Tensor

from book_recs.columns import USER_COLUMN
from book_recs.models.data import batches, model_columns, shuffled_order, to_device, to_tensors
from book_recs.models.feature_spec import FeatureSpec


class ParquetBatches:
    """A model-input parquet file, read on demand: the whole table or one row group.

    Only a path is held (it pickles to another process as a path); every read opens the file.

    Args:
        path: The parquet file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        metadata = pq.ParquetFile(self.path).metadata
        self.num_rows = metadata.num_rows
        self.num_row_groups = metadata.num_row_groups
        self.columns = [metadata.schema.column(i).name for i in range(metadata.num_columns)]

    def __repr__(self) -> str:
        return f"ParquetBatches({self.path!r}, rows={self.num_rows}, row_groups={self.num_row_groups})"

    def _present(self, columns: Sequence[str] | None) -> list[str] | None:
        return None if columns is None else [c for c in columns if c in self.columns]

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The whole table (only ``columns`` that exist, when given)."""
        return pq.read_table(self.path, columns=self._present(columns)).to_pandas()

    def read_row_group(self, index: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Row group ``index`` (only ``columns`` that exist, when given)."""
        return pq.ParquetFile(self.path).read_row_group(index, columns=self._present(columns)).to_pandas()


def streamed_batches(source: ParquetBatches, specs: Sequence[FeatureSpec], batch_size: int, *,
                     buffer_rows: int, generator: torch.Generator, device: torch.device,
                     user_grouped: bool = False) -> Iterator[dict[str, Tensor]]:
    """Shuffled training batches of ``source``, read a row group at a time.

    Row groups come in a seeded random order and fill a buffer until it holds ``buffer_rows``
    rows; the buffer's rows are shuffled (users, then their rows, with ``user_grouped``) and
    served in batches of ``batch_size``, moved to ``device`` once per buffer; the rows left over
    (less than a batch) open the next buffer.
    """
    columns = model_columns(specs)
    carried: list[pd.DataFrame] = []
    group_order = torch.randperm(source.num_row_groups, generator=generator).tolist()
    for position, group in enumerate(group_order):
        carried.append(source.read_row_group(group, columns))
        last = position == len(group_order) - 1
        if sum(len(frame) for frame in carried) < buffer_rows and not last:
            continue
        frame = pd.concat(carried, ignore_index=True)
        users = torch.from_numpy(pd.factorize(frame[USER_COLUMN])[0]) if user_grouped else None
        order = shuffled_order(len(frame), generator, users).numpy()
        served = len(frame) if last else len(frame) // batch_size * batch_size
        yield from batches(to_device(to_tensors(frame.iloc[order[:served]], specs), device), batch_size)
        carried = [frame.iloc[order[served:]]]
