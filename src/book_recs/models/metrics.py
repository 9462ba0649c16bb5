"""The valid-split metrics the trainer needs to stop, schedule and log: pooled AUC and logloss here;
per-user metrics are injected by the caller (``UserMetrics``), so that the models room computes no
score table and depends on nothing above it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

UserMetrics = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]]
"""(users, labels, probabilities) of the valid rows -> named per-user metrics, e.g.
``{"gauc": ..., "avgauc": ...}``; the training history logs each as ``valid_<name>``."""


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """AUC and logloss (NaN AUC when only one class is present).

    >>> binary_metrics(np.array([0, 1]), np.array([0.2, 0.7]))["auc"]
    1.0
    """
    auc = roc_auc_score(labels, probabilities) if len(np.unique(labels)) == 2 else float("nan")
    return {"auc": float(auc), "logloss": float(log_loss(labels, probabilities, labels=[0, 1]))}
