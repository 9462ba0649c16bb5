import numpy as np
import pytest
from scipy import sparse

from book_recs.topn import (
    HELD,
    NOT_RECOMMENDED,
    Catalogue,
    ItemKNN,
    Popularity,
    recommendation_table,
    top_n,
)
from book_recs.topn.ranking import best_columns
from tests.topn.matrices import random_interactions


class FixedScores:
    """A model whose scores are given: row i of ``table`` for the i-th reader scored."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float32)
        self.scored = 0

    def fit(self, interactions):
        return self

    def scores(self, libraries):
        rows = self.table[self.scored:self.scored + libraries.shape[0]]
        self.scored += libraries.shape[0]
        return rows.copy()


def test_top_n_leaves_the_library_out_and_breaks_ties_by_column():
    model = FixedScores([[5, 9, 5, 5, 1, 5], [2, 2, 2, 2, 2, 2]])
    libraries = sparse.csr_matrix(np.array([[0, 0, HELD, 0, 0, 0], [HELD, 0, 0, 0, 0, HELD]],
                                           dtype=np.float32))
    columns, scores = top_n(model, libraries, n=4)
    assert columns.tolist() == [[1, 0, 3, 5], [1, 2, 3, 4]]
    assert scores.tolist() == [[9, 5, 5, 5], [2, 2, 2, 2]]


def test_best_columns_picks_the_lowest_columns_among_ties_straddling_the_cut():
    # Many tied at the n-th score: argpartition alone would pick any of them.
    scores = np.zeros((3, 500), dtype=np.float32)
    scores[:, [499, 250]] = [1.0, 2.0]
    columns, best = best_columns(scores, 5)
    assert columns.tolist() == [[250, 499, 0, 1, 2]] * 3
    assert best.tolist() == [[2, 1, 0, 0, 0]] * 3


def test_places_no_book_can_fill_are_left_empty():
    # Three books, one in the library, one that the model never recommends.
    model = FixedScores([[1.0, -np.inf, 3.0]])
    libraries = sparse.csr_matrix(np.array([[0, 0, HELD]], dtype=np.float32))
    columns, scores = top_n(model, libraries, n=5)
    assert columns.tolist() == [[0] + [NOT_RECOMMENDED] * 4]
    assert scores[0, 0] == 1.0 and np.isneginf(scores[0, 1:]).all()


@pytest.mark.parametrize("model", [Popularity(), ItemKNN(neighbours=3)])
def test_top_n_never_recommends_a_library_book_and_is_the_same_batched_or_not(model):
    model.fit(random_interactions(80, 40, seed=0))
    libraries = random_interactions(23, 40, seed=1, density=0.5)
    whole = top_n(model, libraries, n=10, batch_size=23)
    batched = top_n(model, libraries, n=10, batch_size=4)
    np.testing.assert_array_equal(whole[0], batched[0])
    np.testing.assert_array_equal(whole[1], batched[1])
    recommended = whole[0]
    in_library = np.take_along_axis(libraries.toarray(), np.maximum(recommended, 0), axis=1) > 0
    assert not (in_library & (recommended != NOT_RECOMMENDED)).any()
    # Scores come best first, and each book at most once per reader.
    assert (np.diff(whole[1], axis=1) <= 0).all()
    assert all(len(set(row[row >= 0])) == (row >= 0).sum() for row in recommended)


def test_recommendation_table_names_readers_ranks_and_isbns_without_empty_places():
    columns = np.array([[2, 0], [1, NOT_RECOMMENDED]])
    scores = np.array([[0.9, 0.5], [0.7, -np.inf]], dtype=np.float32)
    table = recommendation_table(np.array([11, 12]), Catalogue(["a", "b", "c"]), columns, scores)
    assert table.to_dict("list") == {"User-ID": [11, 11, 12], "rank": [1, 2, 1],
                                     "ISBN": ["c", "a", "b"],
                                     "score": pytest.approx([0.9, 0.5, 0.7])}
