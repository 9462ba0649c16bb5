"""Platt scaling of a trained model on held-out rows: ``LogitCalibration.fit`` on its logits."""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.inference import predict_logits
from book_recs.models.metrics import binary_metrics

logger = logging.getLogger(__name__)


def calibrate(model: FinalMLP | SeedEnsemble, valid: dict[str, Tensor], batch_size: int = 4096) -> None:
    """Fit ``model.calibration`` (Platt scaling) on the held-out ``valid`` tensors, in place.
    Rankings (AUC, gAUC, nDCG) do not move; logloss does."""
    model.calibration.reset_parameters()
    logits = predict_logits(model, valid, batch_size)
    labels = valid["label"].cpu()
    model.calibration.fit(logits, labels)
    # The calibrated probabilities follow from the same logits: no second pass over valid.
    calibrated = logits * model.calibration.scale.cpu() + model.calibration.bias.cpu()
    before, after = (torch.sigmoid(values).double().numpy() for values in (logits, calibrated))
    logger.info("Platt scaling on valid: scale %.3f, bias %.3f, valid logloss %.4f -> %.4f",
                model.calibration.scale, model.calibration.bias,
                binary_metrics(labels.numpy(), before)["logloss"],
                binary_metrics(labels.numpy(), after)["logloss"])
