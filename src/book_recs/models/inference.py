"""Scoring a trained model: logits and probabilities of every row, in order, on its device.

Tensors go to the model's device once (not per batch); batches are slices of them. With
``precision="bf16"`` the forward runs under ``torch.autocast`` in bfloat16 (the logits come back
as float32); ``auto`` is bf16 only under ``fast`` numerics on hardware with native bf16
(``book_recs.numerics.resolve_precision``), else fp32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from book_recs.models.data import batches, to_device, to_tensors
from book_recs.numerics import resolve_precision


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """``torch.autocast`` in bfloat16 on ``device`` where ``precision`` (``auto``, ``fp32`` or
    ``bf16``) resolves to bf16; a no-op for fp32."""
    enabled = resolve_precision(precision, device.type) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters."""
    return next(model.parameters()).device


@torch.inference_mode()
def predict_logits(model: nn.Module, tensors: dict[str, Tensor], batch_size: int = 4096,
                   precision: str = "fp32") -> Tensor:
    """Logits (N,) float32 on the CPU for every row, in order, in eval mode, computed on the
    model's device."""
    if model.training:  # eval() walks every submodule: 1 ms a served request
        model.eval()
    device = model_device(model)
    tensors = to_device(tensors, device)
    with autocast(device, precision):
        logits = [model(batch).float() for batch in batches(tensors, batch_size)]
    return torch.cat(logits).cpu() if logits else torch.zeros(0)


def predict(model: nn.Module, tensors: dict[str, Tensor], batch_size: int = 4096,
            precision: str = "fp32") -> np.ndarray:
    """Probabilities (float64) of label 1 for every row, in order, in eval mode."""
    return torch.sigmoid(predict_logits(model, tensors, batch_size, precision)).double().numpy()


def predict_frame(model: nn.Module, frame: pd.DataFrame, batch_size: int = 4096,
                  precision: str = "fp32") -> np.ndarray:
    """``predict`` on a model-input table, reading only the fields the model reads."""
    return predict(model, to_tensors(frame, model.input_specs), batch_size, precision)
