import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from book_recs.topn import HELD, LIKED, Catalogue, library_row, reader_matrix, weigh


def _rows(users, isbns, ratings):
    return pd.DataFrame({"User-ID": users, "ISBN": isbns, "Book-Rating": ratings})


def test_catalogue_is_the_sorted_train_isbns_whatever_their_order():
    train = _rows([1, 2, 2, 3], ["c", "a", "c", "b"], [0, 5, 9, 8])
    shuffled = train.sample(frac=1.0, random_state=3)
    for frame in (train, shuffled):
        catalogue = Catalogue.from_interactions(frame)
        assert catalogue.isbns.tolist() == ["a", "b", "c"] and len(catalogue) == 3
    assert catalogue.columns_of(["b", "x", "a"]).tolist() == [1, -1, 0]


def test_reader_matrix_marks_likes_drops_and_counts_unknown_isbns():
    catalogue = Catalogue(["a", "b", "c"])
    valid = _rows([5, 5, 5, 9, 9], ["c", "zz", "a", "yy", "b"], [8, 10, 7, 0, 0])
    rows = reader_matrix(valid, catalogue)
    assert rows.readers.tolist() == [5, 9]
    assert rows.unknown_rows == 2
    assert rows.matrix.dtype == np.float32 and isinstance(rows.matrix, sparse.csr_matrix)
    np.testing.assert_array_equal(rows.matrix.toarray(), [[HELD, 0, LIKED], [0, HELD, 0]])


def test_reader_matrix_keeps_readers_without_known_books_in_the_given_order():
    catalogue = Catalogue(["a", "b"])
    rows = reader_matrix(_rows([4, 2], ["zz", "b"], [9, 9]), catalogue, readers=np.array([4, 7, 2]))
    assert rows.readers.tolist() == [4, 7, 2]
    np.testing.assert_array_equal(rows.matrix.toarray(), [[0, 0], [0, 0], [0, LIKED]])
    with pytest.raises(ValueError, match="missing"):
        reader_matrix(_rows([4, 3], ["a", "b"], [0, 0]), catalogue, readers=np.array([4]))


def test_a_book_held_twice_counts_once_as_a_like_if_either_row_is():
    rows = reader_matrix(_rows([1, 1, 1], ["a", "a", "b"], [9, 0, 3]), Catalogue(["a", "b"]))
    np.testing.assert_array_equal(rows.matrix.toarray(), [[LIKED, HELD]])


def test_library_row_of_a_served_request_reports_unknown_isbns():
    catalogue = Catalogue(["a", "b", "c"])
    row, unknown = library_row(catalogue, ["c", "nope", "a"], [10, 3, 0])
    assert row.shape == (1, 3) and unknown == ["nope"]
    np.testing.assert_array_equal(row.toarray(), [[HELD, 0, LIKED]])
    unrated, _ = library_row(catalogue, ["b", "c"])
    np.testing.assert_array_equal(unrated.toarray(), [[0, HELD, HELD]])


def test_weigh_gives_likes_their_weight_and_leaves_the_matrix_alone():
    interactions = sparse.csr_matrix(np.array([[HELD, LIKED], [LIKED, 0]], dtype=np.float32))
    weighted = weigh(interactions, 4.0)
    np.testing.assert_array_equal(weighted.toarray(), [[1, 4], [4, 0]])
    np.testing.assert_array_equal(interactions.toarray(), [[HELD, LIKED], [LIKED, 0]])
