"""What a trained FinalMLP (or seed ensemble) does with its inputs: each stream's share of the
logit and the mean gate per field. Computed on demand; nothing is kept between calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from book_recs.models.data import batches, to_device
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.inference import model_device


def ensemble_members(model: FinalMLP | SeedEnsemble) -> list[FinalMLP]:
    """The FinalMLPs inside ``model``: its members, or the model itself."""
    return list(model.members) if isinstance(model, SeedEnsemble) else [model]


@torch.inference_mode()
def stream_contributions(model: FinalMLP | SeedEnsemble, tensors: dict[str, Tensor],
                         batch_size: int = 4096) -> pd.DataFrame:
    """Summed |b1 + w1·o1| (user stream) and |b2 + w2·o2| (item stream) over a data set: the
    article's Figure 8 (for an ensemble, the mean over its members)."""
    model.eval()
    tensors = to_device(tensors, model_device(model))
    totals = torch.zeros(2, dtype=torch.float64)
    members = ensemble_members(model)
    for member in members:
        for batch in batches(tensors, batch_size):
            o1, o2, _, _ = member.streams(batch)
            term1, term2 = member.fusion.linear_terms(o1, o2)
            totals += torch.stack([term1.abs().sum(), term2.abs().sum()]).double().cpu()
    totals /= len(members)
    share = totals / totals.sum() if totals.sum() > 0 else totals
    return pd.DataFrame({"stream": ["user", "item"], "contribution": totals.numpy(),
                         "share": share.numpy()})


@torch.inference_mode()
def gate_means(model: FinalMLP | SeedEnsemble, tensors: dict[str, Tensor],
               batch_size: int = 4096) -> pd.DataFrame:
    """Mean gate value per field and stream (1 = neutral; > 1 selected; < 1 damped; for an
    ensemble, also over its members). Empty when the model has no gates."""
    model.eval()
    first = ensemble_members(model)[0]
    if first.gates is None:
        return pd.DataFrame({"stream": [], "field": [], "mean_gate": []})
    tensors = to_device(tensors, model_device(model))
    dim = first.embedding.embedding_dim
    sums, n = torch.zeros(2, len(first.field_names), dtype=torch.float64), 0
    for member in ensemble_members(model):
        for batch in batches(tensors, batch_size):
            _, _, gate1, gate2 = member.streams(batch)
            for stream, gate in enumerate((gate1, gate2)):
                sums[stream] += gate.view(gate.size(0), -1, dim).mean(-1).sum(0).double().cpu()
            n += len(gate1)
    means = (sums / max(n, 1)).numpy()
    return pd.DataFrame({
        "stream": np.repeat(["user", "item"], len(first.field_names)),
        "field": first.field_names * 2,
        "mean_gate": means.reshape(-1),
    })
