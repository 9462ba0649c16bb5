"""Model-input tables to tensors, built once; batches are index slices (no per-row Python)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from book_recs.models.feature_spec import PADDING_ID, FeatureSpec
from book_recs.models.layers import field_order


def to_tensors(frame: pd.DataFrame, specs: Sequence[FeatureSpec]) -> dict[str, Tensor]:
    """Tensors of a model-input table: ``numeric`` (N, Fn) float32, ``categorical`` (N, Fc) int64,
    one (N, L) int64 tensor per sequence field (padded with 0), and ``label`` (N,) when present.

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
    if "label" in frame.columns:
        tensors["label"] = torch.tensor(frame["label"].to_numpy(np.float32))
    return tensors


def num_rows(tensors: dict[str, Tensor]) -> int:
    return len(tensors["numeric"])


def batches(tensors: dict[str, Tensor], batch_size: int,
            generator: torch.Generator | None = None) -> Iterator[dict[str, Tensor]]:
    """Batches of ``tensors``; shuffled by ``generator`` when one is given, in order otherwise."""
    n = num_rows(tensors)
    order = torch.randperm(n, generator=generator) if generator is not None else None
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size] if order is not None else slice(start, start + batch_size)
        yield {name: tensor[index] for name, tensor in tensors.items()}
