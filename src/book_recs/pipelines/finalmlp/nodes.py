"""Train, score and explain FinalMLP (or its DualMLP ablation) on the model-input tables."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from book_recs.columns import KEY_COLUMNS
from book_recs.devices import resolve_device
from book_recs.evaluation import average_auc, group_auc
from book_recs.models.data import to_tensors
from book_recs.models.distributed import train_models
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.explanations import ensemble_members, gate_means, stream_contributions
from book_recs.models.feature_spec import FeatureSpec, drop_fields
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.inference import predict_frame
from book_recs.models.streaming import ParquetBatches
from book_recs.models.training import TrainingConfig

logger = logging.getLogger(__name__)


def valid_user_aucs(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Per-user AUC of the valid rows, summarised as FuxiCTR names them: ``gauc`` weights each
    user with both classes by their number of rows, ``avgauc`` is the plain mean (NaN without
    such users). The trainer's ``user_metrics``."""
    return {"gauc": group_auc(users, labels, scores), "avgauc": average_auc(users, labels, scores)}


def train_model(
    train: pd.DataFrame | ParquetBatches, valid: pd.DataFrame, specs: list[FeatureSpec],
    model_params: dict[str, Any], training_params: dict[str, Any],
) -> tuple[FinalMLP | SeedEnsemble, pd.DataFrame]:
    """Build FinalMLP from ``model_params`` (seeded) and train it, or a seed ensemble of
    ``training_params["ensemble_size"]`` of them, in ``training_params["processes"]`` processes;
    return it and the training history. ``train`` may be a table or a lazy parquet reader
    (``data_loading: memory`` reads it whole, ``stream`` a row group at a time)."""
    config = TrainingConfig.from_params(training_params)
    model_config = FinalMLPConfig.from_params(model_params)
    input_specs = drop_fields(specs, model_config.exclude_fields)
    train_rows = train if isinstance(train, ParquetBatches) else to_tensors(train, input_specs)
    model, history = train_models(specs, model_config, train_rows, to_tensors(valid, input_specs),
                                  config, user_metrics=valid_user_aucs)
    logger.info("%s: %d parameters (%d models)",
                "FinalMLP" if ensemble_members(model)[0].gates is not None else "DualMLP",
                sum(p.numel() for p in model.parameters()), config.ensemble_size)
    return model, history


def score_model(model: FinalMLP | SeedEnsemble, model_input: pd.DataFrame,
                training_params: dict[str, Any]) -> pd.DataFrame:
    """Scores of every row: ``score`` = ``probability`` of label 1, on ``training.device`` in
    ``training.precision``."""
    config = TrainingConfig.from_params(training_params)
    start = time.perf_counter()
    probability = predict_frame(model.to(resolve_device(config.device)), model_input,
                                config.score_batch_size, config.precision)
    scores = model_input[list(KEY_COLUMNS)].assign(score=probability, probability=probability)
    seconds = time.perf_counter() - start
    logger.info("scored %d rows in %.2f s (%.0f rows/s)", len(model_input), seconds,
                len(model_input) / max(seconds, 1e-9))
    return scores


def explain_model(model: FinalMLP | SeedEnsemble, model_input: pd.DataFrame,
                  training_params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-stream contribution (the article's Figure 8) and mean gate value per field and stream."""
    config = TrainingConfig.from_params(training_params)
    model.to(resolve_device(config.device))
    tensors = to_tensors(model_input, model.input_specs)
    contributions = stream_contributions(model, tensors, config.score_batch_size)
    logger.info("stream shares: user %.3f, item %.3f", *contributions["share"])
    return contributions, gate_means(model, tensors, config.score_batch_size)
