import pickle
import warnings

import implicit.utils
import numpy as np
import pytest
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender
from scipy import sparse
from threadpoolctl import threadpool_limits

from book_recs.topn import ALS, EASE, HELD, LIKED, ItemKNN, Popularity, ranking, weigh
from book_recs.topn import models as topn_models
from book_recs.topn.models import gram_matrix
from tests.topn.matrices import random_interactions


def _csr(rows) -> sparse.csr_matrix:
    return sparse.csr_matrix(np.asarray(rows, dtype=np.float32))


def _ease_closed_form(weighted: np.ndarray, l2: float) -> np.ndarray:
    """Steck 2019, eq. 8, in float64: P = (X'X + l2 I)^-1, B = -P / diag(P), diag(B) = 0."""
    inverse = np.linalg.inv(weighted.T @ weighted + l2 * np.eye(weighted.shape[1]))
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return weights


def test_ease_on_two_books_is_each_book_regressed_on_the_other_by_hand():
    # G = [[3, 2], [2, 2]], l2 = 1: B[0, 1] = G01 / (G00 + l2) = 2/4, B[1, 0] = 2/3.
    train = _csr([[HELD, HELD], [HELD, 0], [HELD, HELD]])
    model = EASE(l2=1.0, min_count=1).fit(train)
    np.testing.assert_allclose(model.weights, [[0.0, 0.5], [2 / 3, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(model.scores(_csr([[HELD, 0]])), [[0.0, 0.5]], rtol=1e-6)


def test_ease_matches_the_closed_form_on_a_toy_matrix_with_likes_weighted(monkeypatch):
    # Blocks of 2 columns: the in-place inverse mirrors its triangle across several blocks.
    monkeypatch.setattr(topn_models, "GRAM_BLOCK_COLUMNS", 2)
    train = _csr([[HELD, LIKED, 0, HELD], [LIKED, HELD, HELD, 0], [0, HELD, LIKED, HELD],
                  [HELD, 0, HELD, LIKED], [HELD, HELD, 0, 0]])
    model = EASE(l2=2.0, min_count=1, liked_weight=3.0).fit(train)
    expected = _ease_closed_form(weigh(train, 3.0).toarray().astype(float), 2.0)
    np.testing.assert_allclose(model.weights, expected, rtol=1e-5, atol=1e-6)
    libraries = _csr([[LIKED, 0, HELD, 0], [0, HELD, 0, 0]])
    np.testing.assert_allclose(model.scores(libraries),
                               weigh(libraries, 3.0).toarray() @ expected, rtol=1e-5, atol=1e-6)


def test_ease_scores_books_below_min_count_minus_infinity_and_fits_on_the_rest():
    train = random_interactions(40, 9, seed=1)
    counts = (train.toarray() > 0).sum(axis=0)
    min_count = int(np.sort(counts)[3])  # keeps 5 or 6 of the 9 books
    kept = np.flatnonzero(counts >= min_count)
    assert 0 < len(kept) < 9
    model = EASE(l2=5.0, min_count=min_count).fit(train)
    assert model.columns.tolist() == kept.tolist()
    expected = _ease_closed_form(weigh(train, 1.0).toarray()[:, kept].astype(float), 5.0)
    np.testing.assert_allclose(model.weights, expected, rtol=1e-4, atol=1e-6)
    scores = model.scores(random_interactions(3, 9, seed=2))
    assert np.isneginf(np.delete(scores, kept, axis=1)).all()
    assert np.isfinite(scores[:, kept]).all()


def test_ease_refuses_a_catalogue_larger_than_lapack_inverts(monkeypatch):
    monkeypatch.setattr(topn_models, "EASE_MAX_BOOKS", 3)
    train = _csr([[HELD, HELD, HELD, HELD], [HELD, HELD, HELD, 0]])
    with pytest.raises(ValueError, match="4 books reach min_count=1"):
        EASE(min_count=1).fit(train)
    assert len(EASE(min_count=2).fit(train).columns) == 3


def test_gram_matrix_in_blocks_equals_the_dense_product():
    interactions = random_interactions(30, 7, seed=3)
    dense = interactions.toarray()
    np.testing.assert_array_equal(gram_matrix(interactions, block_columns=3), dense.T @ dense)


def test_popularity_counts_train_readers_holding_or_liking_a_book():
    train = _csr([[HELD, LIKED, 0], [HELD, 0, LIKED], [HELD, LIKED, 0]])
    libraries = _csr([[0, 0, HELD], [HELD, 0, 0]])
    held = Popularity(count="held").fit(train).scores(libraries)
    liked = Popularity(count="liked").fit(train).scores(libraries)
    np.testing.assert_array_equal(held, [[3, 2, 1], [3, 2, 1]])
    np.testing.assert_array_equal(liked, [[0, 2, 1], [0, 2, 1]])
    with pytest.raises(ValueError, match="count"):
        Popularity(count="rated")


# Readers x books a, b, c: cos(a, b) = 2/sqrt(6), cos(a, c) = 1/sqrt(6), cos(b, c) = 0.
KNN_TRAIN = [[HELD, HELD, 0], [HELD, HELD, 0], [HELD, 0, HELD], [0, 0, HELD]]
COS_AB, COS_AC = 2 / np.sqrt(6), 1 / np.sqrt(6)


def test_item_knn_cosine_scores_are_the_library_times_the_similarities_by_hand():
    model = ItemKNN(similarity="cosine", neighbours=5).fit(_csr(KNN_TRAIN))
    scores = model.scores(_csr([[HELD, 0, 0], [0, HELD, HELD]]))
    np.testing.assert_allclose(scores, [[1, COS_AB, COS_AC], [COS_AB + COS_AC, 1, 1]], rtol=1e-6)


def test_item_knn_keeps_each_books_nearest_neighbours_besides_itself():
    # One neighbour: a keeps b (not c), b keeps a, c keeps a.
    model = ItemKNN(similarity="cosine", neighbours=1).fit(_csr(KNN_TRAIN))
    scores = model.scores(_csr([[HELD, 0, 0], [0, 0, HELD]]))
    np.testing.assert_allclose(scores, [[1, COS_AB, 0], [COS_AC, 0, 1]], rtol=1e-6)


def test_item_knn_weighs_a_liked_library_book():
    model = ItemKNN(similarity="cosine", neighbours=5, liked_weight=2.0).fit(_csr(KNN_TRAIN))
    np.testing.assert_allclose(model.scores(_csr([[LIKED, 0, 0]])), [[2, 2 * COS_AB, 2 * COS_AC]],
                               rtol=1e-6)


# implicit's own weighting hands its kNN a COO matrix and warns about it.
@pytest.mark.filterwarnings("ignore::implicit.utils.ParameterWarning")
@pytest.mark.parametrize(("similarity", "recommender"), [
    ("cosine", CosineRecommender), ("bm25", BM25Recommender), ("tfidf", TFIDFRecommender)])
def test_item_knn_fold_in_equals_implicits_own_recommend(similarity, recommender):
    train, library = random_interactions(60, 12, seed=4), random_interactions(1, 12, seed=5)
    model = ItemKNN(similarity=similarity, neighbours=4).fit(train)
    reference = recommender(K=5)
    reference.fit(weigh(train, 1.0).tocsr(), show_progress=False)
    ids, expected = reference.recommend(0, weigh(library, 1.0), N=12,
                                        filter_already_liked_items=False)
    got = model.scores(library)[0]
    np.testing.assert_allclose(got[ids], expected, rtol=1e-5)
    assert np.all(np.delete(got, ids) == 0)


def test_als_folds_a_new_reader_in_by_the_exact_least_squares_solve():
    regularization, alpha, liked_weight = 0.5, 3.0, 2.0
    model = ALS(factors=6, regularization=regularization, alpha=alpha, iterations=4,
                random_state=1, liked_weight=liked_weight).fit(random_interactions(200, 50, seed=6))
    libraries = random_interactions(3, 50, seed=7)
    items = model.item_factors.astype(float)
    confidence = alpha * weigh(libraries, liked_weight).toarray()
    for reader in range(3):
        held = confidence[reader] > 0
        c, y = confidence[reader, held], items[held]
        # Hu et al. 2008, eq. 4: (Y'Y + Y'(C - I)Y + reg I) x = Y'C p, preferences 1 where held.
        system = items.T @ items + (y.T * (c - 1)) @ y + regularization * np.eye(6)
        factors = np.linalg.solve(system, y.T @ c)
        np.testing.assert_allclose(model.reader_factors(libraries[reader]), [factors], atol=1e-5)
        np.testing.assert_allclose(model.scores(libraries[reader]), [items @ factors], atol=1e-5)


def test_a_readers_als_scores_do_not_depend_on_the_readers_scored_with_it():
    model = ALS(factors=32, iterations=2, random_state=1).fit(random_interactions(300, 2000, seed=4))
    libraries = random_interactions(21, 2000, seed=5)
    together = model.scores(libraries)
    for reader in (0, 9, 20):
        np.testing.assert_array_equal(model.scores(libraries[reader]), together[reader:reader + 1])


def test_als_gives_the_same_factors_for_the_same_seed_whatever_the_threads():
    train = random_interactions(200, 50, seed=8)
    first = ALS(factors=6, iterations=3, random_state=3, num_threads=1).fit(train).item_factors
    again = ALS(factors=6, iterations=3, random_state=3, num_threads=2).fit(train).item_factors
    other = ALS(factors=6, iterations=3, random_state=4, num_threads=1).fit(train).item_factors
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_als_fit_runs_without_a_blas_thread_pool(monkeypatch):
    # implicit checks the BLAS threads once per process and warns when there are several.
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with threadpool_limits(2, "blas"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ALS(factors=4, iterations=1).fit(random_interactions(20, 10, seed=9))
    assert implicit.utils._checked_blas_config


def _als_with_outstanding_books(monkeypatch) -> ALS:
    """An ALS over 300 books, 16 per product, whose 10 books of longest factors stand out
    (a reader's best few are among them) and whose books 20-39 are copies of books 40-59 (equal
    scores: ties to break by column)."""
    monkeypatch.setattr(topn_models, "BOOKS_PER_PRODUCT", 16)
    model = ALS(factors=8, iterations=2, random_state=1).fit(random_interactions(100, 300, seed=2))
    factors = model.item_factors
    factors[20:40] = factors[40:60]
    factors[[3, 50, 77, 120, 121, 200, 250, 260, 280, 299]] *= 50.0
    model._index_books()
    return model


def test_als_best_is_the_best_of_every_score_without_scoring_every_book(monkeypatch):
    model = _als_with_outstanding_books(monkeypatch)
    libraries = random_interactions(12, 300, seed=3, density=0.05)
    exclusions = random_interactions(12, 300, seed=4, density=0.05)
    products = []
    product = model._product
    monkeypatch.setattr(model, "_product", lambda *args: products.append(1) or product(*args))
    for n in (1, 3, 40, 300):
        products.clear()
        columns, best = model.best(libraries, n, exclusions)
        scored = len(products)
        scores = model.scores(libraries)
        ranking.exclude_library(scores, libraries)
        ranking.exclude_library(scores, exclusions)
        expected_columns, expected_best = ranking.best_columns(scores, n)
        np.testing.assert_array_equal(columns, expected_columns)
        np.testing.assert_array_equal(best, expected_best)
        if n == 3:  # the three best stand out: the books of short factors are never scored
            assert scored < len(products) / 2


def test_als_books_are_indexed_again_when_a_model_is_unpickled(monkeypatch):
    model = _als_with_outstanding_books(monkeypatch)
    libraries = random_interactions(4, 300, seed=5, density=0.05)
    again = pickle.loads(pickle.dumps(model))
    assert not any(name.startswith("_") for name in model.__getstate__())
    np.testing.assert_array_equal(again.best(libraries, 5)[0], model.best(libraries, 5)[0])
