"""Make the small, real, deterministic subsample shipped in data/01_raw/.

All rows (explicit and implicit ratings) of a seeded random subset of the users who rated at least
one book, their Users rows, and exactly the Books rows their ratings reference; the same three files
and columns as the full data, so the pipeline reads both the same way. Rows are copied byte for byte
from the source files (no re-serialisation) and gzip carries no timestamp, so a rerun with the same
seed gives identical files.

    python scripts/make_sample.py                      # from ../shared/data/book-crossing
    python scripts/make_sample.py --source DIR --users 2000 --seed 2021
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_PATH = Path(__file__).resolve().parents[1]


def read_rows(path: Path) -> tuple[str, list[str]]:
    """Header and records of a CSV file (plain or gzip), each record as its exact original text."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        text = handle.read()
    # A quoted field may hold a line break: a record ends where its quotes balance.
    lines = io.StringIO(text, newline="")
    records, header = [], lines.readline()
    buffer = ""
    for line in lines:
        buffer += line
        if buffer.count('"') % 2 == 0:
            records.append(buffer)
            buffer = ""
    return header, records


def first_field(record: str) -> str:
    return next(csv.reader([record.rstrip("\r\n")]))[0]


def write_gzip(path: Path, header: str, records: list[str]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write((header + "".join(records)).encode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=PROJECT_PATH.parent / "shared/data/book-crossing")
    parser.add_argument("--target", type=Path, default=PROJECT_PATH / "data/01_raw")
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()

    ratings_header, ratings = read_rows(args.source / "Ratings.csv.gz")
    rating_users = np.array([int(first_field(r)) for r in ratings])
    candidates = np.unique(rating_users)
    chosen = set(np.random.default_rng(args.seed).choice(candidates, args.users, replace=False).tolist())
    kept_ratings = [r for r, u in zip(ratings, rating_users) if u in chosen]
    isbns = {next(csv.reader([r.rstrip("\r\n")]))[1] for r in kept_ratings}

    users_header, users = read_rows(args.source / "Users.csv.gz")
    kept_users = [r for r in users if int(first_field(r)) in chosen]
    books_header, books = read_rows(args.source / "Books.csv.gz")
    kept_books = [r for r in books if first_field(r) in isbns]

    args.target.mkdir(parents=True, exist_ok=True)
    write_gzip(args.target / "Users.csv.gz", users_header, kept_users)
    write_gzip(args.target / "Ratings.csv.gz", ratings_header, kept_ratings)
    write_gzip(args.target / "Books.csv.gz", books_header, kept_books)

    size = sum((args.target / f"{n}.csv.gz").stat().st_size for n in ("Users", "Ratings", "Books"))
    explicit = pd.read_csv(args.target / "Ratings.csv.gz", dtype={"ISBN": str})
    print(f"{len(kept_users)} users, {len(kept_ratings)} ratings "
          f"({int((explicit['Book-Rating'] > 0).sum())} explicit), {len(kept_books)} books, "
          f"{size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
