"""Train, score and explain FinalMLP (or its DualMLP ablation) on the model-input tables."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from book_recs.columns import KEY_COLUMNS
from book_recs.models.data import to_tensors
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.feature_spec import FeatureSpec
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.trainer import (
    TrainingConfig,
    ensemble_members,
    fit_ensemble,
    gate_means,
    predict,
    stream_contributions,
)

logger = logging.getLogger(__name__)


def train_model(
    train: pd.DataFrame, valid: pd.DataFrame, specs: list[FeatureSpec],
    model_params: dict[str, Any], training_params: dict[str, Any],
) -> tuple[FinalMLP | SeedEnsemble, pd.DataFrame]:
    """Build FinalMLP from ``model_params`` (seeded) and train it, or a seed ensemble of
    ``training_params["ensemble_size"]`` of them; return it and the training history."""
    config = TrainingConfig.from_params(training_params)
    model, history = fit_ensemble(lambda: FinalMLP(specs, **model_params), to_tensors(train, specs),
                                  to_tensors(valid, specs), config)
    logger.info("%s: %d parameters (%d models)",
                "FinalMLP" if ensemble_members(model)[0].gates is not None else "DualMLP",
                sum(p.numel() for p in model.parameters()), config.ensemble_size)
    return model, history


def score_model(model: FinalMLP | SeedEnsemble, model_input: pd.DataFrame, specs: list[FeatureSpec],
                training_params: dict[str, Any]) -> pd.DataFrame:
    """Scores of every row: ``score`` = ``probability`` of label 1."""
    start = time.perf_counter()
    probability = predict(model, to_tensors(model_input, specs),
                          TrainingConfig.from_params(training_params).score_batch_size)
    seconds = time.perf_counter() - start
    logger.info("scored %d rows in %.2f s (%.0f rows/s)", len(model_input), seconds,
                len(model_input) / max(seconds, 1e-9))
    scores = model_input[list(KEY_COLUMNS)].copy()
    scores["score"] = probability
    scores["probability"] = probability
    return scores


def explain_model(model: FinalMLP | SeedEnsemble, model_input: pd.DataFrame,
                  specs: list[FeatureSpec]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-stream contribution (the article's Figure 8) and mean gate value per field and stream."""
    tensors = to_tensors(model_input, specs)
    contributions = stream_contributions(model, tensors)
    logger.info("stream shares: user %.3f, item %.3f", *contributions["share"])
    return contributions, gate_means(model, tensors)
