"""Model-input tables to tensors, built once (and moved to the device once); batches are index
slices (no per-row Python)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.models.feature_spec import PADDING_ID, FeatureSpec, field_order


def model_columns(specs: Sequence[FeatureSpec]) -> list[str]:
    """The columns ``to_tensors`` reads for ``specs`` (features, then label, rating and user when
    a table has them): what a reader needs to load and nothing more."""
    return [s.name for s in field_order(specs)] + [LABEL_COLUMN, RATING_COLUMN, USER_COLUMN]


def to_tensors(frame: pd.DataFrame, specs: Sequence[FeatureSpec]) -> dict[str, Tensor]:
    """Tensors of a model-input table: ``numeric`` (N, Fn) float32, ``categorical`` (N, Fc) int64,
    one (N, L) int64 tensor per sequence field (padded with 0), and, when their columns are present,
    ``label`` (N,) float32, ``rating`` (N,) float32 and ``user`` (N,) int64 (codes 0..U-1 of
    ``User-ID``: what ranking losses and user-grouped batches need; the model never reads them).

    Only the columns of ``specs`` are read (pass a model's ``input_specs``). Missing columns raise
    a KeyError that names them.
    """
    ordered = field_order(specs)
    missing = [s.name for s in ordered if s.name not in frame.columns]
    if missing:
        raise KeyError(f"model input lacks the feature columns {missing}")
    numeric = [s.name for s in ordered if s.kind == "numeric"]
    categorical = [s.name for s in ordered if s.kind == "categorical"]
    tensors = {
        "numeric": torch.from_numpy(np.nan_to_num(_matrix(frame, numeric, np.float32), copy=False)),
        "categorical": torch.from_numpy(_matrix(frame, categorical, np.int64)),
    }
    for spec in (s for s in ordered if s.kind == "sequence"):
        lists = frame[spec.name].tolist()
        width = max((len(ids) for ids in lists), default=1) or 1
        padded = np.full((len(lists), width), PADDING_ID, dtype=np.int64)
        for row, ids in enumerate(lists):
            padded[row, : len(ids)] = ids
        tensors[spec.name] = torch.from_numpy(padded)
    if LABEL_COLUMN in frame.columns:
        tensors["label"] = torch.from_numpy(frame[LABEL_COLUMN].to_numpy(np.float32))
    if RATING_COLUMN in frame.columns:
        tensors["rating"] = torch.from_numpy(frame[RATING_COLUMN].to_numpy(np.float32))
    if USER_COLUMN in frame.columns:
        tensors["user"] = torch.from_numpy(pd.factorize(frame[USER_COLUMN])[0].astype(np.int64))
    return tensors


def _matrix(frame: pd.DataFrame, columns: list[str], dtype: type) -> np.ndarray:
    """(N, len(columns)) array of ``dtype``, filled column by column: no intermediate
    DataFrame, no mixed-dtype block (``frame[columns].to_numpy`` builds both)."""
    matrix = np.empty((len(frame), len(columns)), dtype=dtype)
    floating = np.issubdtype(dtype, np.floating)
    for j, column in enumerate(columns):
        values = frame[column]
        matrix[:, j] = values.to_numpy(dtype, na_value=np.nan) if floating else values.to_numpy(dtype)
    return matrix


def to_device(tensors: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """The same tensors on ``device`` (no copy when they are there already)."""
    return {name: tensor.to(device) for name, tensor in tensors.items()}


def num_rows(tensors: dict[str, Tensor]) -> int:
    return len(tensors["numeric"])


def shuffled_order(n: int, generator: torch.Generator, groups: Tensor | None = None) -> Tensor:
    """A seeded permutation of ``range(n)``; with ``groups`` (codes 0..G-1 per row) the groups
    come in random order with their rows in random order inside, so that a ranking loss sees
    whole users (only the groups cut at a batch boundary are split)."""
    order = torch.randperm(n, generator=generator)
    if groups is not None:
        group_rank = torch.randperm(int(groups.max()) + 1, generator=generator)[groups.cpu()]
        order = order[torch.sort(group_rank[order], stable=True).indices]
    return order


def batches(tensors: dict[str, Tensor], batch_size: int, generator: torch.Generator | None = None,
            group_key: str | None = None, *, num_replicas: int = 1, rank: int = 0,
            ) -> Iterator[dict[str, Tensor]]:
    """Batches of ``tensors``; shuffled by ``generator`` when one is given (user-grouped with
    ``group_key``, see ``shuffled_order``), in order otherwise.

    With ``num_replicas`` > 1 (data-parallel training) the shuffled order, the same in every
    process, is cut into chunks of ``batch_size`` rows (the local batch) and torch's
    ``DistributedSampler`` deals process ``rank`` the chunks rank, rank + R, ...: step t of the R
    processes together covers the rows of step t of one process with R times the batch, so the
    global batch is R · ``batch_size``. Every process takes the same number of steps (the sampler
    repeats a leading chunk when the count does not divide).
    """
    n = num_rows(tensors)
    if generator is None and num_replicas == 1:
        for start in range(0, n, batch_size):  # slices: views, no copy
            yield {name: tensor[start:start + batch_size] for name, tensor in tensors.items()}
        return
    order = (shuffled_order(n, generator, tensors[group_key] if group_key else None)
             if generator is not None else torch.arange(n))
    chunks = torch.split(order.to(tensors["numeric"].device), batch_size)
    if num_replicas > 1:
        sampler = DistributedSampler(chunks, num_replicas=num_replicas, rank=rank, shuffle=False)
        chunks = [chunks[i] for i in sampler]
    for index in chunks:
        yield {name: tensor[index] for name, tensor in tensors.items()}
