"""Small interaction matrices shared by the top-N tests."""

import numpy as np
from scipy import sparse

from book_recs.topn import HELD, LIKED


def random_interactions(n_readers: int, n_books: int, seed: int,
                        density: float = 0.3) -> sparse.csr_matrix:
    """Readers x books, ``HELD`` or ``LIKED`` (one in three) in about ``density`` of the cells."""
    rng = np.random.default_rng(seed)
    held = rng.random((n_readers, n_books)) < density
    values = np.where(rng.random((n_readers, n_books)) < 1 / 3, LIKED, HELD)
    return sparse.csr_matrix(np.where(held, values, 0.0).astype(np.float32))
