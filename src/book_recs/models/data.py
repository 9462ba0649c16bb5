"""Model-input tables to tensors, built once; batches are index slices (no per-row Python)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.models.feature_spec import PADDING_ID, FeatureSpec, field_order


def to_tensors(frame: pd.DataFrame, specs: Sequence[FeatureSpec]) -> dict[str, Tensor]:
    """Tensors of a model-input table: ``numeric`` (N, Fn) float32, ``categorical`` (N, Fc) int64,
    one (N, L) int64 tensor per sequence field (padded with 0), and, when their columns are present,
    ``label`` (N,) float32, ``rating`` (N,) float32 and ``user`` (N,) int64 (codes 0..U-1 of
    ``User-ID``: what ranking losses and user-grouped batches need; the model never reads them).

    Missing columns raise a KeyError that names them.
    """
    ordered = field_order(specs)
    missing = [s.name for s in ordered if s.name not in frame.columns]
    if missing:
        raise KeyError(f"model input lacks the feature columns {missing}")
    numeric = [s.name for s in ordered if s.kind == "numeric"]
    categorical = [s.name for s in ordered if s.kind == "categorical"]
    tensors = {
        "numeric": torch.tensor(np.nan_to_num(frame[numeric].to_numpy(np.float32))),
        "categorical": torch.tensor(frame[categorical].to_numpy(np.int64)),
    }
    for spec in (s for s in ordered if s.kind == "sequence"):
        lists = frame[spec.name].tolist()
        width = max((len(ids) for ids in lists), default=1) or 1
        padded = np.full((len(lists), width), PADDING_ID, dtype=np.int64)
        for row, ids in enumerate(lists):
            padded[row, : len(ids)] = ids
        tensors[spec.name] = torch.from_numpy(padded)
    if LABEL_COLUMN in frame.columns:
        tensors["label"] = torch.tensor(frame[LABEL_COLUMN].to_numpy(np.float32))
    if RATING_COLUMN in frame.columns:
        tensors["rating"] = torch.tensor(frame[RATING_COLUMN].to_numpy(np.float32))
    if USER_COLUMN in frame.columns:
        tensors["user"] = torch.from_numpy(pd.factorize(frame[USER_COLUMN])[0].astype(np.int64))
    return tensors


def num_rows(tensors: dict[str, Tensor]) -> int:
    return len(tensors["numeric"])


def batches(tensors: dict[str, Tensor], batch_size: int, generator: torch.Generator | None = None,
            group_key: str | None = None) -> Iterator[dict[str, Tensor]]:
    """Batches of ``tensors``; shuffled by ``generator`` when one is given, in order otherwise.

    With ``group_key`` (e.g. ``"user"``, codes 0..G-1) the shuffle keeps each group's rows
    together: groups in random order, rows in random order within a group, so that a ranking loss
    sees whole users (only the groups cut at a batch boundary are split).
    """
    n = num_rows(tensors)
    order = torch.randperm(n, generator=generator) if generator is not None else None
    if order is not None and group_key is not None:
        groups = tensors[group_key]
        group_rank = torch.randperm(int(groups.max()) + 1, generator=generator)[groups]
        order = order[torch.sort(group_rank[order], stable=True).indices]
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size] if order is not None else slice(start, start + batch_size)
        yield {name: tensor[index] for name, tensor in tensors.items()}
