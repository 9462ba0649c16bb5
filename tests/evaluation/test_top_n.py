import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from book_recs.evaluation import per_reader_top_n_metrics

LIST_LENGTH = 15


def _lists_and_targets(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """40 readers with 15-book lists out of 60 books; targets drawn from 80 books (some never
    recommended, as outside a catalogue); readers 0-4 have targets and no list, 35-39 a list
    and no targets."""
    rng = np.random.default_rng(seed)
    lists = [(reader, rank, f"isbn{book}") for reader in range(5, 40)
             for rank, book in enumerate(rng.choice(60, LIST_LENGTH, replace=False), start=1)]
    targets = [(reader, f"isbn{book}") for reader in range(35)
               for book in rng.choice(80, rng.integers(1, 14), replace=False)]
    return (pd.DataFrame(lists, columns=["User-ID", "rank", "ISBN"]),
            pd.DataFrame(targets, columns=["User-ID", "ISBN"]))


@pytest.mark.parametrize("k", [1, 3, 10])
def test_top_n_metrics_equal_sklearn_ndcg_and_recall_by_hand(k):
    recommended, targets = _lists_and_targets(seed=k)
    got = per_reader_top_n_metrics(recommended, targets.sample(frac=1.0, random_state=0), k)
    assert got.index.tolist() == list(range(35))
    assert got[f"hits@{k}"].gt(0).sum() >= 4  # the fixture has hits to judge
    for reader, isbns in targets.groupby("User-ID")["ISBN"]:
        wanted = set(isbns)
        shown = recommended[recommended["User-ID"] == reader].sort_values("rank")
        books = shown["ISBN"].tolist()
        missed = sorted(wanted - set(books))
        # Relevance over the recommended books, then the missed targets ranked after them.
        relevance = [float(book in wanted) for book in books] + [1.0] * len(missed)
        scores = list(np.arange(len(books), 0, -1.0)) + [-1.0] * len(missed)
        hits = len(wanted & set(books[:k]))
        row = got.loc[reader]
        assert row["n_targets"] == len(wanted) and row[f"hits@{k}"] == hits
        # A reader without a list found nothing (sklearn would rank the tied targets first).
        expected_ndcg = ndcg_score([relevance], [scores], k=k) if books else 0.0
        assert row[f"ndcg@{k}"] == pytest.approx(expected_ndcg)
        assert row[f"recall@{k}"] == pytest.approx(hits / min(k, len(wanted)))


def test_top_n_metrics_by_hand_with_duplicate_targets_and_ranks_beyond_k():
    recommended = pd.DataFrame({"User-ID": [1, 1, 1, 2], "rank": [1, 2, 3, 1],
                                "ISBN": ["x", "t1", "t2", "t3"]})
    targets = pd.DataFrame({"User-ID": [1, 1, 1, 2, 2, 2],
                            "ISBN": ["t1", "t1", "t2", "t3", "u", "v"]})
    got = per_reader_top_n_metrics(recommended, targets, k=2)
    # Reader 1: hit at rank 2 only (t2 is at rank 3), ideal 2 hits; reader 2: hit at 1 of 3.
    assert got.loc[1, "ndcg@2"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert got.loc[1, "recall@2"] == 0.5 and got.loc[1, "n_targets"] == 2
    assert got.loc[2, "ndcg@2"] == pytest.approx(1 / (1 + 1 / np.log2(3)))
    assert got.loc[2, "recall@2"] == 0.5 and got.loc[2, "hits@2"] == 1
