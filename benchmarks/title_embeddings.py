"""Title-embedding throughput: N unique real titles with the default encoder, cold then cached.

The titles are the unique ``Book-Title`` values of the full data after the project's own
cleaning (``clean_ratings``), a seeded sample of N of them. The cache goes through the same
datasets as the pipeline (``OptionalParquetDataset`` in, ``pandas.ParquetDataset`` out) in a
temporary folder, so the cached rerun includes reading and writing the parquet file.

    python benchmarks/title_embeddings.py                  # 5000 titles from ../shared
    python benchmarks/title_embeddings.py --titles 1000 --batch-size 64
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_PATH = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_PATH.parent / "shared" / "data" / "book-crossing"


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


def timed_update(cache_path: Path, titles: list[str], batch_size: int) -> tuple[float, int]:
    """One cache update as the pipeline does it: load, encode what is new, save."""
    from kedro_datasets.pandas import ParquetDataset

    from book_recs.datasets import OptionalParquetDataset
    from book_recs.features import DEFAULT_ENCODER, add_title_embeddings, load_title_encoder

    start = time.perf_counter()
    cache = OptionalParquetDataset(filepath=str(cache_path),
                                   columns=["encoder", "title", "embedding"]).load()
    updated = add_title_embeddings(cache, titles, DEFAULT_ENCODER,
                                   lambda: load_title_encoder(DEFAULT_ENCODER), batch_size)
    ParquetDataset(filepath=str(cache_path)).save(updated)
    return time.perf_counter() - start, len(updated) - len(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=5000, help="unique titles to encode")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()
    if not (args.data_dir / "Books.csv.gz").exists():
        sys.exit(f"no Book-Crossing data in {args.data_dir}")

    import torch

    from book_recs.features import load_title_encoder

    all_titles = cleaned_unique_titles(args.data_dir)
    rng = np.random.default_rng(args.seed)
    titles = sorted(rng.choice(all_titles, size=min(args.titles, len(all_titles)), replace=False))
    start = time.perf_counter()
    load_title_encoder("all-MiniLM-L6-v2")
    load_seconds = time.perf_counter() - start
    print(f"{len(titles)} titles, batch size {args.batch_size}, torch threads "  # noqa: T201
          f"{torch.get_num_threads()}, model load alone {load_seconds:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        cache_path = Path(folder) / "title_embeddings.parquet"
        for run in ("cold", "cached"):
            seconds, encoded = timed_update(cache_path, titles, args.batch_size)
            print(f"{run:>6}: {encoded:5d} titles encoded in {seconds:6.2f} s -> "
                  f"{len(titles) / seconds:,.0f} titles/s (model load, parquet I/O included)")  # noqa: T201


if __name__ == "__main__":
    main()
