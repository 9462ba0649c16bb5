"""Title-embedding throughput, previous setting against the current one, and their vectors.

The titles are a seeded sample of N unique ``Book-Title`` values of the full data after the
project's own cleaning (``clean_ratings``). Each setting encodes them into an empty cache (cold),
then again (cached), through the same datasets as the pipeline (``OptionalParquetDataset`` in,
``pandas.ParquetDataset`` out) in a temporary folder, model load and parquet I/O included:

- previous: one sentence-transformers ``encode`` call over the sorted new titles, batches of 128
  titles padded to their longest, torch's own thread count (the code before the fixed shapes);
- current: ``TitleEncoder`` (fixed batch shapes per token length, one thread) in this process;
- pooled: the same, its batches shared out to ``--processes`` single-thread worker processes
  (sentence-transformers' multi-process pool; ``title_processes: auto`` from 10,000 titles on).

Then the current vectors are checked byte for byte against the pooled ones and the same titles
encoded again in another company (two random halves, in reverse order) and one at a time, and
compared by cosine with the previous setting's and, given ``--reference``, with vectors saved by
the code before this change (an ``.npz`` with ``titles`` and ``vectors``, kept outside the repo).
The printed digest of the current vectors is the same in every run on one machine (same library
versions).

    python benchmarks/title_embeddings.py                   # 5000 titles from ../shared
    python benchmarks/title_embeddings.py --titles 20000 --skip-previous  # past the pool threshold
    python benchmarks/title_embeddings.py --titles 0        # all ~135k titles (minutes per setting)
    python benchmarks/title_embeddings.py --reference /tmp/titles_ref/reference_5000.npz
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_PATH = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_PATH.parent / "shared" / "data" / "book-crossing"
PREVIOUS_BATCH_SIZE = 128  # the previous encode_batch_size parameter


class PreviousEncoder:
    """The setting before fixed shapes: sentence-transformers' own batching of all new titles."""

    def __init__(self, model) -> None:
        self.model = model

    def encode(self, titles: list[str], show_progress_bar: bool = False) -> np.ndarray:
        return self.model.encode(titles, batch_size=PREVIOUS_BATCH_SIZE,
                                 show_progress_bar=show_progress_bar)


def cleaned_unique_titles(data_dir: Path) -> list[str]:
    """Unique titles of the cleaned full data, loaded through the project's `full` catalog."""
    os.environ["BOOK_CROSSING_DIR"] = str(data_dir)
    os.environ["BOOK_RECS_TRACKING"] = "off"
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from book_recs.pipelines.data_processing.nodes import clean_ratings
    from book_recs.pipelines.data_processing.pipeline import VALIDATORS

    bootstrap_project(PROJECT_PATH)
    with KedroSession.create(project_path=PROJECT_PATH, env="full") as session:
        context = session.load_context()
        validated = {name: validate(context.catalog.load(f"{name}_raw"))[0]
                     for name, validate in VALIDATORS.items()}
        cleaned, _ = clean_ratings(**validated, params=context.params["data_processing"])
        rows = int(cleaned.count().execute())
        titles = sorted(cleaned.select("Book-Title").distinct().execute()["Book-Title"])
    print(f"cleaned ratings: {rows:,} rows, {len(titles):,} unique titles")  # noqa: T201
    return titles


def timed_update(cache_path: Path, titles: list[str], key: str,
                 load_encoder: Callable) -> tuple[float, int]:
    """One cache update as the pipeline does it: load, encode what is new, save."""
    from kedro_datasets.pandas import ParquetDataset

    from book_recs.datasets import OptionalParquetDataset
    from book_recs.features import add_title_embeddings

    start = time.perf_counter()
    cache = OptionalParquetDataset(filepath=str(cache_path),
                                   columns=["encoder", "title", "embedding"]).load()
    updated = add_title_embeddings(cache, titles, key, load_encoder)
    ParquetDataset(filepath=str(cache_path)).save(updated)
    return time.perf_counter() - start, len(updated) - len(cache)


def cold_and_cached(name: str, titles: list[str], key: str, load_encoder: Callable) -> np.ndarray:
    """Print cold and cached throughput of one setting; return its vectors in title order."""
    from book_recs.features import title_matrix

    with tempfile.TemporaryDirectory() as folder:
        cache_path = Path(folder) / "title_embeddings.parquet"
        for run in ("cold", "cached"):
            seconds, encoded = timed_update(cache_path, titles, key, load_encoder)
            print(f"{name:>8} {run:>6}: {encoded:6d} titles encoded in {seconds:7.2f} s -> "  # noqa: T201
                  f"{len(titles) / seconds:7,.0f} titles/s  (load avg {os.getloadavg()[0]:.1f})")
        cache = pd.read_parquet(cache_path)
    return title_matrix(cache, key, pd.Series(titles))


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=5000, help="unique titles (0: all)")
    parser.add_argument("--alone", type=int, default=20, help="titles also encoded one at a time")
    parser.add_argument("--reference", type=Path, help=".npz of titles and previous vectors")
    parser.add_argument("--skip-previous", action="store_true", help="time current and pooled only")
    parser.add_argument("--processes", type=int, default=0,
                        help="worker processes of the pooled setting (0: one per torch thread)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()
    if not (args.data_dir / "Books.csv.gz").exists():
        sys.exit(f"no Book-Crossing data in {args.data_dir}")

    import torch

    from book_recs.features import DEFAULT_ENCODER, encoder_key, load_title_encoder
    from book_recs.features.title_embeddings import TOKENS_PER_BATCH

    all_titles = cleaned_unique_titles(args.data_dir)
    rng = np.random.default_rng(args.seed)
    size = len(all_titles) if args.titles == 0 else min(args.titles, len(all_titles))
    titles = sorted(rng.choice(all_titles, size=size, replace=False))
    start = time.perf_counter()
    encoder = load_title_encoder(DEFAULT_ENCODER, "cpu", processes=1)
    load_seconds = time.perf_counter() - start
    print(f"{len(titles)} titles; torch threads {torch.get_num_threads()} (previous setting), "  # noqa: T201
          f"1 (current, {TOKENS_PER_BATCH}-token batches); model load {load_seconds:.1f} s")

    key = encoder_key(DEFAULT_ENCODER, "cpu")
    current = cold_and_cached("current", titles, key,
                              lambda: load_title_encoder(DEFAULT_ENCODER, "cpu", processes=1))
    print(f"digest of the current vectors: {hashlib.sha256(current.tobytes()).hexdigest()[:16]}")  # noqa: T201
    processes = args.processes or torch.get_num_threads()
    pooled = cold_and_cached(f"pooled/{processes}", titles, key,
                             lambda: load_title_encoder(DEFAULT_ENCODER, "cpu", processes))
    print(f"bit-identical: pooled in {processes} processes: {np.array_equal(pooled, current)}")  # noqa: T201

    halves = rng.permutation(len(titles))
    again = np.empty_like(current)
    for half in np.array_split(halves, 2):
        again[half[::-1]] = encoder.encode([titles[i] for i in half[::-1]])
    alone_rows = rng.choice(len(titles), size=min(args.alone, len(titles)), replace=False)
    alone = np.stack([encoder.encode([titles[i]])[0] for i in alone_rows])
    print(f"bit-identical: in two random halves, reversed: {np.array_equal(again, current)}; "  # noqa: T201
          f"{len(alone_rows)} titles one at a time: {np.array_equal(alone, current[alone_rows])}")

    if not args.skip_previous:
        previous = cold_and_cached("previous", titles, "previous",
                                   lambda: PreviousEncoder(load_title_encoder(DEFAULT_ENCODER,
                                                                              "cpu").model))
        print(f"min cosine current vs previous setting: {min_cosine(current, previous):.7f}; "  # noqa: T201
              f"max |difference| {np.abs(current - previous).max():.1e}")
    if args.reference:
        saved = np.load(args.reference, allow_pickle=True)
        rows = {title: i for i, title in enumerate(saved["titles"].tolist())}
        shared = [i for i, title in enumerate(titles) if title in rows]
        reference = saved["vectors"][[rows[titles[i]] for i in shared]]
        message = (f"min cosine current vs reference ({len(shared)} titles): "
                   f"{min_cosine(current[shared], reference):.7f}")
        if not args.skip_previous:
            message += f"; previous setting reproduces it: {np.array_equal(previous[shared], reference)}"
        print(message)  # noqa: T201


if __name__ == "__main__":
    main()
