"""Speed of the top-N anchors on the reader's-library protocol: fit seconds, valid-like nDCG@10 /
Recall@10 with the readers scored per second in batches, and single-reader scoring latency (one
library in, top 10 out: ``library_row`` + ``top_n``, as a served request), per configuration.

    python benchmarks/topn_speed.py                    # every configuration below
    python benchmarks/topn_speed.py --only EASE ALS    # those whose name starts so

Data: ``../shared/data/book-crossing/Ratings.csv.gz`` when it exists, else the shipped sample
``data/01_raw/Ratings.csv.gz``; all ratings (0 = implicit). A seeded random 70% of the users are
train; another 10% (the size of the project's valid split) are the scored readers, each reader's
rows split 80% library / 20% held out, targets = held-out books rated above 7.
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from book_recs.columns import BOOK_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.topn import (
    ALS,
    EASE,
    Catalogue,
    ItemKNN,
    Popularity,
    library_row,
    model_top_n_metrics,
    reader_matrix,
    top_n,
)
from book_recs.topn.interactions import LIKED_ABOVE

PROJECT_PATH = Path(__file__).resolve().parents[1]
FULL_DATA = PROJECT_PATH.parent / "shared" / "data" / "book-crossing" / "Ratings.csv.gz"
SAMPLE = PROJECT_PATH / "data" / "01_raw" / "Ratings.csv.gz"
TRAIN_SHARE, SCORED_SHARE, LIBRARY_SHARE = 0.7, 0.1, 0.8
SINGLE_READERS = 300  # single-reader requests timed
CONFIGURATIONS = [
    ("Popularity(held)", lambda: Popularity(count="held")),
    ("ItemKNN(cosine, 100)", lambda: ItemKNN(similarity="cosine", neighbours=100)),
    ("ItemKNN(bm25, 100)", lambda: ItemKNN(similarity="bm25", neighbours=100)),
    ("EASE(200, min_count 10)", lambda: EASE(l2=200.0, min_count=10)),
    ("EASE(200, min_count 7)", lambda: EASE(l2=200.0, min_count=7)),
    ("ALS(64 factors, 15 it)", lambda: ALS(factors=64, regularization=1.0, alpha=10.0,
                                            iterations=15)),
    ("ALS(128 factors, 15 it)", lambda: ALS(factors=128, regularization=1.0, alpha=10.0,
                                             iterations=15)),
]


def show(line: str) -> None:
    print(line, flush=True)  # noqa: T201


def split_readers(ratings: pd.DataFrame, seed: int):
    """Train rows, the scored readers' library rows and their targets (``User-ID``, ``ISBN``)."""
    rng = np.random.default_rng(seed)
    users = np.sort(ratings[USER_COLUMN].unique())
    rng.shuffle(users)
    n_train, n_scored = int(TRAIN_SHARE * len(users)), int(SCORED_SHARE * len(users))
    train = ratings[ratings[USER_COLUMN].isin(users[:n_train])]
    scored = ratings[ratings[USER_COLUMN].isin(users[n_train:n_train + n_scored])]
    in_library = rng.random(len(scored)) < LIBRARY_SHARE
    held_out = scored[~in_library]
    targets = held_out.loc[held_out[RATING_COLUMN] > LIKED_ABOVE, [USER_COLUMN, BOOK_COLUMN]]
    return train, scored[in_library], targets, np.sort(scored[USER_COLUMN].unique())


def single_reader_latencies(model, catalogue: Catalogue, libraries: pd.DataFrame,
                            readers: np.ndarray) -> np.ndarray:
    """Milliseconds per request: one reader's ISBNs and ratings in, the top 10 out."""
    by_reader = libraries.groupby(USER_COLUMN)
    latencies = []
    for reader in readers:
        rows = by_reader.get_group(reader)
        started = time.perf_counter()
        row, _ = library_row(catalogue, rows[BOOK_COLUMN].tolist(), rows[RATING_COLUMN].tolist())
        top_n(model, row, 10)
        latencies.append(1000 * (time.perf_counter() - started))
    return np.array(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="configuration name prefixes to run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    path = FULL_DATA if FULL_DATA.exists() else SAMPLE
    ratings = pd.read_csv(path, dtype={BOOK_COLUMN: str}, keep_default_na=False)
    train, libraries, targets, scored_readers = split_readers(ratings, args.seed)
    catalogue = Catalogue.from_interactions(train)
    train_matrix = reader_matrix(train, catalogue).matrix
    valid = reader_matrix(libraries, catalogue, readers=scored_readers)
    single = np.random.default_rng(args.seed).choice(
        libraries[USER_COLUMN].unique(), min(SINGLE_READERS, libraries[USER_COLUMN].nunique()),
        replace=False)
    show(f"{path}: {len(ratings):,} ratings; train {train_matrix.shape[0]:,} readers x "
          f"{len(catalogue):,} books ({train_matrix.nnz:,} held); scored {len(scored_readers):,} "
          f"readers, {targets[USER_COLUMN].nunique():,} with a target ({len(targets):,} targets); "
          f"{valid.unknown_rows:,} library rows outside the catalogue")
    counts = np.bincount(train_matrix.indices, minlength=len(catalogue))
    sizes = ", ".join(f"{m}: {(counts >= m).sum():,}" for m in (3, 5, 6, 7, 8, 10, 15, 20))
    show(f"books held by >= m train readers (EASE's min_count): {sizes}")
    show(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    show("| model | fit s | scored readers/s | valid ndcg@10 | valid recall@10 "
          "| single reader ms p50 | p99 | load avg |")
    show("|---|---|---|---|---|---|---|---|")
    for name, make in CONFIGURATIONS:
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        started = time.perf_counter()
        model = make().fit(train_matrix)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        metrics = model_top_n_metrics(model, valid, targets, catalogue, k=10)
        readers_per_second = len(metrics) / (time.perf_counter() - started)
        latency = single_reader_latencies(model, catalogue, libraries, single)
        show(f"| {name} | {fit_seconds:.1f} | {readers_per_second:,.0f} "
              f"| {metrics['ndcg@10'].mean():.4f} | {metrics['recall@10'].mean():.4f} "
              f"| {np.percentile(latency, 50):.1f} | {np.percentile(latency, 99):.1f} "
              f"| {os.getloadavg()[0]:.2f} |")
        del model


if __name__ == "__main__":
    main()
