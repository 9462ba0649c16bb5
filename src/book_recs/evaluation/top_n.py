"""Per-reader metrics of ranked top-N lists against held-out target books.

Binary gains: a recommended book is a hit when it is one of the reader's targets. Every target
counts, also one the model could never recommend (outside its catalogue): a catalogue cut costs
recall and nDCG. With T a reader's targets and hits at ranks r (1-based, r <= K):

- ``ndcg@K`` = sum 1/log2(r + 1) over the hits, over the ideal sum 1/log2(i + 1), i = 1..min(K, T);
- ``recall@K`` = hits / min(K, T) (Liang et al. 2018), so that a perfect list scores 1.

Example:
    >>> recommended = pd.DataFrame({"User-ID": [1, 1, 2], "rank": [1, 2, 1],
    ...                             "ISBN": ["a", "b", "c"]})
    >>> targets = pd.DataFrame({"User-ID": [1, 1, 3], "ISBN": ["b", "z", "c"]})
    >>> per_reader_top_n_metrics(recommended, targets, k=2).round(3).reset_index()
       User-ID  n_targets  hits@2  ndcg@2  recall@2
    0        1          2       1   0.387       0.5
    1        3          1       0   0.000       0.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from book_recs.columns import BOOK_COLUMN, USER_COLUMN

RANK = "rank"


def per_reader_top_n_metrics(recommended: pd.DataFrame, targets: pd.DataFrame,
                             k: int) -> pd.DataFrame:
    """``n_targets``, ``hits@K``, ``ndcg@K``, ``recall@K`` of each reader with a target.

    Args:
        recommended: ``User-ID``, ``rank`` (1 = best, distinct per reader), ``ISBN``; ranks
            beyond ``k`` are ignored; a reader with targets and no list scores 0.
        targets: ``User-ID``, ``ISBN`` (duplicates count once).
        k: the list length judged.

    Returns:
        One row per reader of ``targets``, indexed by ``User-ID`` (sorted).
    """
    targets = targets[[USER_COLUMN, BOOK_COLUMN]].drop_duplicates()
    n_targets = targets.groupby(USER_COLUMN).size().rename("n_targets")
    shown = recommended.loc[recommended[RANK] <= k, [USER_COLUMN, RANK, BOOK_COLUMN]]
    hits = shown.merge(targets, on=[USER_COLUMN, BOOK_COLUMN])
    gains = hits.assign(gain=1.0 / np.log2(hits[RANK].to_numpy(float) + 1.0)).groupby(
        USER_COLUMN).agg(hits=(RANK, "size"), dcg=("gain", "sum"))
    table = gains.reindex(n_targets.index, fill_value=0).join(n_targets)
    # Ideal DCG of m hits at ranks 1..m, for m = 0..k.
    ideal_dcg = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    ideal_hits = np.minimum(table["n_targets"].to_numpy(), k)
    return pd.DataFrame({
        "n_targets": table["n_targets"],
        f"hits@{k}": table["hits"].astype(np.int64),
        f"ndcg@{k}": table["dcg"].to_numpy(float) / ideal_dcg[ideal_hits],
        f"recall@{k}": table["hits"].to_numpy(float) / ideal_hits,
    }, index=n_targets.index)
