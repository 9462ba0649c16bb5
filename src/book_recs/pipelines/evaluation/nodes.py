"""Evaluation nodes: one model's scores in, metrics with intervals out."""

from __future__ import annotations

import logging
import time

import pandas as pd

from book_recs.evaluation import evaluate_scores

logger = logging.getLogger(__name__)


def evaluate_model(scores_valid: pd.DataFrame, scores_test: pd.DataFrame,
                   params: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Metrics with user-bootstrap intervals on valid and test.

    Args:
        scores_valid: score table of the valid split (User-ID, ISBN, Book-Rating, label, score
            [, probability]).
        scores_test: the same for the test split.
        params: ``evaluation`` parameters (ks, bootstrap_resamples, bootstrap_seed, confidence).

    Returns:
        metrics: ``{"confidence", "bootstrap_resamples", "bootstrap_seed", "valid": summary,
        "test": summary}``; bootstrap_replicates: per split and resample, every metric;
        per_user_metrics_test: per-user metrics on test.
    """
    metrics = {key: params[key] for key in ("confidence", "bootstrap_resamples", "bootstrap_seed")}
    replicates, per_user_test = [], None
    for split, scores in (("valid", scores_valid), ("test", scores_test)):
        started = time.perf_counter()
        summary, split_replicates, per_user = evaluate_scores(
            scores, params["ks"], params["bootstrap_resamples"], params["bootstrap_seed"],
            params["confidence"])
        metrics[split] = summary
        replicates.append(split_replicates.assign(split=split))
        per_user_test = per_user
        logger.info("%s: %d rows, %d users, AUC %.4f, nDCG %.4f (%.1f s)", split,
                    summary["n_rows"], summary["n_users"], summary["metrics"]["auc"]["value"],
                    summary["metrics"]["ndcg"]["value"], time.perf_counter() - started)
    return metrics, pd.concat(replicates, ignore_index=True), per_user_test.reset_index()
