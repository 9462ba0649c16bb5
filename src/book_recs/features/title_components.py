"""The title's PCA components: fitted on the train split's titles, projected for every title.

Model-shaped work (a titles x embedding-dim matrix), so numpy and scikit-learn, not the engine:
the result is a small table, one row per title, that the model-input assembly joins on the title.

Example (a cache of two-dimensional "embeddings"):
    >>> import pandas as pd
    >>> cache = pd.DataFrame({"encoder": "e", "title": ["a", "b", "c"],
    ...                       "embedding": [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]})
    >>> pca = fit_title_pca(["a", "b", "c"], cache, "e", variance_share=0.9, seed=0)
    >>> project_titles(["c", "z"], cache, "e", pca).shape  # "z" is not cached: NaN components
    (2, 3)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from book_recs.features.fields import TITLE_FIELD, title_columns
from book_recs.features.title_embeddings import title_matrix

logger = logging.getLogger(__name__)

# Titles are projected in zero-padded blocks of this many rows: a matrix product's last bits
# depend on its shape, so one fixed shape makes a title's components a function of the title
# alone, whichever titles are projected with it (the pipeline's and a served request's agree).
PROJECTION_BLOCK = 256


def fit_title_pca(titles: Sequence[str], cache: pd.DataFrame, encoder: str,
                  variance_share: float, seed: int) -> PCA:
    """PCA keeping ``variance_share`` of the variance of the titles' embeddings.

    Args:
        titles: The train split's unique titles (their order fixes the floating-point sums).
        cache: The title-embedding cache.
        encoder: Cache key of the encoder whose embeddings are read.
        variance_share: Share of the variance kept (the article: 0.8).
        seed: PCA random state.
    """
    pca = PCA(n_components=variance_share, svd_solver="full", random_state=seed)
    pca.fit(title_matrix(cache, encoder, pd.Series(list(titles), dtype="str")))
    logger.info("title PCA: %d components keep %.0f%% of the variance of %d train titles",
                pca.n_components_, 100 * variance_share, len(titles))
    return pca


def project_titles(titles: Sequence[str], cache: pd.DataFrame, encoder: str,
                   pca: PCA) -> pd.DataFrame:
    """The PCA components of each title: ``Book-Title`` then ``Book-Title_0..k-1`` (float64;
    NaN for a title without a cached embedding, imputed later with the train median)."""
    titles = pd.Series(list(titles), dtype="str")
    embeddings = title_matrix(cache, encoder, titles)
    components = np.full((len(titles), pca.n_components_), np.nan)
    known = np.flatnonzero(~np.isnan(embeddings).any(axis=1))
    for start in range(0, len(known), PROJECTION_BLOCK):
        rows = known[start:start + PROJECTION_BLOCK]
        block = np.zeros((PROJECTION_BLOCK, embeddings.shape[1]), dtype=embeddings.dtype)
        block[:len(rows)] = embeddings[rows]
        components[rows] = pca.transform(block)[:len(rows)]
    return pd.concat([titles.rename(TITLE_FIELD).to_frame(),
                      pd.DataFrame(components, columns=title_columns(pca.n_components_))], axis=1)
