"""Nodes of the reader's-library protocol (strong generalisation: Liang et al. 2018, Steck 2019).

The article's user split stays: train readers' rows (explicit ratings and implicit rows, rating
0: the reader holds the book) are the training data. Each valid and test reader's rows are split
at random, seeded, into their **library** (given to every model) and **held-out** books; the
targets are the held-out books rated above the like threshold (label 1). Every model ranks the
whole train catalogue except the reader's library; nDCG@K and Recall@K (hits / min(K, targets))
count every target, also one outside a model's catalogue. Train readers are split the same way,
for a model that learns from (library, target) pairs: no row is ever on both sides.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from book_recs.columns import BOOK_COLUMN, LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.evaluation import summarise_per_user
from book_recs.evaluation.plots import plot_library_comparison
from book_recs.evaluation.top_n import per_reader_top_n_metrics
from book_recs.pipelines.data_split.nodes import SPLIT_COLUMN
from book_recs.topn import (
    LibrarySplit,
    TopNModel,
    choose_parameters,
    recommendation_table,
    top_n,
)

logger = logging.getLogger(__name__)

PART_COLUMN = "part"
LIBRARY, HELD_OUT = "library", "held_out"
EVALUATED_SPLITS = ("valid", "test")


def collect_reader_interactions(ratings: ir.Table, implicit: ir.Table,
                                user_splits: ir.Table) -> ir.Table:
    """Every row of the split's readers: their cleaned explicit ratings and their implicit rows
    (``Book-Rating`` 0, ``label`` 0), with their split; one row per (reader, book), ordered by
    ``User-ID`` and ``ISBN``.

    Args:
        ratings: ``cleaned_ratings`` (explicit, rating 1-10, ``label``).
        implicit: ``implicit_interactions`` (rating-0 rows of titled books, every user).
        user_splits: ``User-ID`` -> ``split`` (readers with a cleaned rating).
    """
    explicit = ratings.select(USER_COLUMN, BOOK_COLUMN,
                              **{RATING_COLUMN: ratings[RATING_COLUMN].cast("int64"),
                                 LABEL_COLUMN: ratings[LABEL_COLUMN].cast("int64")})
    held = implicit.select(USER_COLUMN, BOOK_COLUMN, **{RATING_COLUMN: ibis.literal(0, "int64"),
                                                        LABEL_COLUMN: ibis.literal(0, "int64")})
    rows = ibis.union(explicit, held).join(user_splits, USER_COLUMN)
    return rows.order_by([USER_COLUMN, BOOK_COLUMN])


def split_libraries(interactions: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Each reader's rows, split at random into ``library`` and ``held_out``.

    A seeded uniform draw per row, in (``User-ID``, ``ISBN``) order, orders each reader's rows;
    the first ``round(held_out_share x rows)`` (halves rounded up) are held out. So the split
    depends only on the seed and the rows, never on the engine or the file order; a reader with
    one or two rows keeps them all in the library.

    Args:
        interactions: ``collect_reader_interactions``'s rows.
        params: ``seed`` and ``held_out_share``.

    Returns:
        The rows with ``part``, in (``User-ID``, ``ISBN``) order.
    """
    share = params["held_out_share"]
    if not 0 < share < 1:
        raise ValueError(f"library.split.held_out_share must be in (0, 1), got {share}")
    rows = interactions.sort_values([USER_COLUMN, BOOK_COLUMN], ignore_index=True)
    draw = np.random.default_rng(params["seed"]).random(len(rows))
    users = rows[USER_COLUMN].to_numpy()
    order_in_user = pd.Series(draw).groupby(users).rank(method="first").to_numpy() - 1
    counts = rows.groupby(USER_COLUMN)[USER_COLUMN].transform("size").to_numpy()
    held_out = order_in_user < np.floor(share * counts + 0.5)
    rows[PART_COLUMN] = np.where(held_out, HELD_OUT, LIBRARY)
    for split, part in rows.groupby(SPLIT_COLUMN, sort=False):
        targets = part[(part[PART_COLUMN] == HELD_OUT) & (part[LABEL_COLUMN] == 1)]
        logger.info("library split %-5s %6d readers, %8d rows: %7d held out, %6d targets of "
                    "%5d readers", split, part[USER_COLUMN].nunique(), len(part),
                    int((part[PART_COLUMN] == HELD_OUT).sum()), len(targets),
                    targets[USER_COLUMN].nunique())
    return rows


def index_readers(rows: pd.DataFrame) -> LibrarySplit:
    """The protocol's matrices over the train catalogue (``book_recs.topn.LibrarySplit``)."""
    split = LibrarySplit.from_rows(rows, SPLIT_COLUMN, PART_COLUMN, LIBRARY)
    logger.info("train catalogue %d books; %s", len(split.catalogue), split.describe())
    return split


def tune_anchor(readers: LibrarySplit, params: dict[str, Any], k: int,
                model_class: type[TopNModel]) -> tuple[TopNModel, pd.DataFrame]:
    """Fit ``model_class`` on the train readers at every point of ``params["grid"]`` and keep
    the best by valid nDCG@``k``; return it and the grid's table (valid metrics, fit seconds).
    The test readers are not an input."""
    search = choose_parameters(model_class, params["grid"], readers.train.matrix,
                               readers.libraries["valid"], readers.targets["valid"],
                               catalogue=readers.catalogue, k=k)
    return search.best_model, search.table.assign(
        chosen=[row == search.best_parameters for row in
                search.table[list(params["grid"])].to_dict(orient="records")])


def rank_readers(model: TopNModel, readers: LibrarySplit, split: str, k: int) -> pd.DataFrame:
    """The ``k`` best catalogue books of every ``split`` reader with a target, from their
    library, the library left out: ``User-ID``, ``rank``, ``ISBN``, ``score``."""
    started = time.perf_counter()
    libraries = readers.judged_libraries(split)
    columns, scores = top_n(model, libraries.matrix, k)
    table = recommendation_table(libraries.readers, readers.catalogue, columns, scores)
    logger.info("%s: top %d of %d %s readers in %.1f s", type(model).__name__, k,
                len(libraries.readers), split, time.perf_counter() - started)
    return table


def evaluate_top_n(top_n_valid: pd.DataFrame, top_n_test: pd.DataFrame, readers: LibrarySplit,
                   k: int, params: dict[str, Any]) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """nDCG@``k`` and Recall@``k`` of one model's lists on valid and test, over the readers with
    a target, with user-bootstrap intervals (``params:evaluation``: the article protocol's
    resamples, seed and confidence, so the models' replicates pair).

    Returns:
        metrics (``{"valid": summary, "test": summary, ...}``, as the article protocol's
        evaluation writes them), the replicates of both splits and the test per-reader table.
    """
    metrics = {key: params[key] for key in ("confidence", "bootstrap_resamples", "bootstrap_seed")}
    replicates, per_reader_test = [], None
    for split, recommended in (("valid", top_n_valid), ("test", top_n_test)):
        per_reader = per_reader_top_n_metrics(recommended, readers.targets[split], k)
        summary, split_replicates = summarise_per_user(
            per_reader, [f"ndcg@{k}", f"recall@{k}"], params["bootstrap_resamples"],
            params["bootstrap_seed"], params["confidence"])
        metrics[split] = {"n_targets": int(per_reader["n_targets"].sum()), **summary}
        replicates.append(split_replicates.assign(split=split))
        per_reader_test = per_reader
        logger.info("%s: %d readers, nDCG@%d %.4f, Recall@%d %.4f", split, summary["n_users"], k,
                    summary["metrics"][f"ndcg@{k}"]["value"], k,
                    summary["metrics"][f"recall@{k}"]["value"])
    return metrics, pd.concat(replicates, ignore_index=True), per_reader_test.reset_index()


def plot_test_ndcg(model_comparison: pd.DataFrame, k: int) -> Figure:
    """Every model's test nDCG@``k`` with its interval, as bars."""
    return plot_library_comparison(model_comparison, f"ndcg@{k}")
