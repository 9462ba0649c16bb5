"""Hyper-parameters of an anchor chosen on the valid readers: every point of a grid is fitted on
the train readers, ranks the valid readers' catalogue from their libraries, and is judged by
valid nDCG@K. The test readers are never an input.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from book_recs.columns import USER_COLUMN
from book_recs.evaluation.top_n import per_reader_top_n_metrics

from .interactions import Catalogue, ReaderMatrix
from .models import TopNModel
from .ranking import recommendation_table, top_n

logger = logging.getLogger(__name__)

FIT_SECONDS = "fit_seconds"


@dataclass(frozen=True)
class GridSearch:
    """What :func:`choose_parameters` found.

    Attributes:
        best_parameters: the grid point with the best valid nDCG@K (the first one on a tie).
        best_model: that point's model, fitted on train (the one to score test readers with).
        table: one row per distinct grid point, in grid order: its parameters,
            ``ndcg@K``, ``recall@K`` (means over the valid readers with a target) and
            ``fit_seconds``.
    """

    best_parameters: dict[str, Any]
    best_model: TopNModel
    table: pd.DataFrame


def grid_points(grid: dict[str, list]) -> list[dict[str, Any]]:
    """Every distinct combination of the grid's values, in order (the last name varies fastest).

    >>> grid_points({"l2": [10, 100, 10], "min_count": [5]})
    [{'l2': 10, 'min_count': 5}, {'l2': 100, 'min_count': 5}]
    """
    names = list(grid)
    points = dict.fromkeys(itertools.product(*(dict.fromkeys(grid[name]) for name in names)))
    return [dict(zip(names, values, strict=True)) for values in points]


def model_top_n_metrics(model: TopNModel, libraries: ReaderMatrix, targets: pd.DataFrame,
                        catalogue: Catalogue, *, k: int,
                        batch_size: int | None = None) -> pd.DataFrame:
    """Per-reader metrics of ``model``'s top K for the readers of ``targets``, from their
    ``libraries`` (:func:`book_recs.evaluation.top_n.per_reader_top_n_metrics`); only the readers
    with a target are scored (the others count in no metric). Valid readers while tuning, test
    readers once the parameters are chosen."""
    judged = np.isin(libraries.readers, targets[USER_COLUMN].unique())
    columns, scores = top_n(model, libraries.matrix[judged], k, batch_size)
    recommended = recommendation_table(libraries.readers[judged], catalogue, columns, scores)
    return per_reader_top_n_metrics(recommended, targets, k)


def choose_parameters(model_class: type[TopNModel], grid: dict[str, list],
                      train: sparse.csr_matrix, valid_libraries: ReaderMatrix,
                      valid_targets: pd.DataFrame, *, catalogue: Catalogue, k: int = 10,
                      batch_size: int | None = None) -> GridSearch:
    """Fits ``model_class(**point)`` on ``train`` once per distinct grid point and keeps the best
    by valid nDCG@K.

    Args:
        grid: parameter name -> values to try, as a Kedro parameters file writes it; a name left
            out keeps the class's default.
        train: train readers x catalogue.
        valid_libraries: the valid readers' libraries (80% of their rows).
        valid_targets: ``User-ID``, ``ISBN`` of their held-out books rated above 7.
        k: the list length judged.
        batch_size: readers scored at once (see :func:`book_recs.topn.ranking.top_n`).

    Raises:
        ValueError: without valid targets (nothing to judge by).
    """
    if valid_targets.empty:
        raise ValueError("no valid targets: every grid point would score NaN")
    points = grid_points(grid)
    rows, best_model, best_ndcg, best_point = [], None, -1.0, None
    for number, point in enumerate(points, start=1):
        started = time.perf_counter()
        model = model_class(**point).fit(train)
        fit_seconds = time.perf_counter() - started
        metrics = model_top_n_metrics(model, valid_libraries, valid_targets, catalogue, k=k,
                                batch_size=batch_size)
        ndcg, recall = metrics[f"ndcg@{k}"].mean(), metrics[f"recall@{k}"].mean()
        rows.append({**point, f"ndcg@{k}": ndcg, f"recall@{k}": recall, FIT_SECONDS: fit_seconds})
        logger.info("%s %d/%d %s: valid ndcg@%d %.4f, recall@%d %.4f (fit %.1f s)",
                    model_class.__name__, number, len(points), point, k, ndcg, k, recall,
                    fit_seconds)
        if ndcg > best_ndcg:
            best_model, best_ndcg, best_point = model, ndcg, point
        del model  # a large model (EASE's dense B) is freed before the next fit
    logger.info("%s: best %s, valid ndcg@%d %.4f", model_class.__name__, best_point, k, best_ndcg)
    return GridSearch(best_point, best_model, pd.DataFrame(rows))
