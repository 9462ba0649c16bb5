"""Make the small, real, deterministic subsample shipped in data/01_raw/.

Users are drawn (seeded, without replacement) among the users that have at least one rating,
explicit or implicit: a user without ratings would add nothing after the join. The sample holds
all their rating rows (explicit and implicit), their Users rows, and exactly the Books rows their
ratings reference: the same three files and columns as the full data, so the pipeline reads both
the same way and meets the same traps. Records are copied byte for byte from the source files (no
re-serialisation) and the gzip header carries no timestamp or name, so a rerun with the same
source and seed gives byte-identical files.

The default size keeps the first ``kedro run`` (titles encoded) near 1.5 minutes on two cores, and
the test suite, which runs it twice and its data stages on Spark beside the unit tests, under five:
4.5k cleaned explicit ratings of 945 users and 4k unique titles to embed.

    python scripts/make_sample.py                      # from ../shared/data/book-crossing
    python scripts/make_sample.py --source DIR --users 3000 --seed 2021
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
from pathlib import Path

import numpy as np
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from book_recs.pipelines.data_processing.nodes import clean_ratings
from book_recs.pipelines.data_processing.pipeline import VALIDATORS
from book_recs.settings import CONFIG_LOADER_ARGS

PROJECT_PATH = Path(__file__).resolve().parents[1]
STEMS = ("Users", "Ratings", "Books")


def read_records(path: Path) -> tuple[str, list[str]]:
    """Header and records of a CSV file (plain or gzip), each record as its exact original text."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        lines = io.StringIO(handle.read(), newline="")
    header, records, buffer = lines.readline(), [], ""
    for line in lines:
        buffer += line
        # A quoted field may hold a line break: a record ends where its quotes balance.
        if buffer.count('"') % 2 == 0:
            records.append(buffer)
            buffer = ""
    return header, records


def fields(record: str) -> list[str]:
    """The parsed fields of one record."""
    return next(csv.reader([record.rstrip("\r\n")]))


def write_gzip(path: Path, header: str, records: list[str]) -> None:
    """Write a gzip file with no mtime or file name in its header (reproducible bytes)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write((header + "".join(records)).encode("utf-8"))


def sample_records(source: Path, n_users: int, seed: int) -> dict[str, tuple[str, list[str]]]:
    """Header and kept records of each file for ``n_users`` seeded users with a rating."""
    ratings_header, ratings = read_records(source / "Ratings.csv.gz")
    rating_fields = [fields(r) for r in ratings]
    candidates = np.unique([int(f[0]) for f in rating_fields])  # sorted: order-independent draw
    chosen = set(np.random.default_rng(seed).choice(candidates, n_users, replace=False).tolist())
    kept = [(r, f[1]) for r, f in zip(ratings, rating_fields, strict=True) if int(f[0]) in chosen]
    isbns = {isbn for _, isbn in kept}
    users_header, users = read_records(source / "Users.csv.gz")
    books_header, books = read_records(source / "Books.csv.gz")
    return {
        "Users": (users_header, [r for r in users if int(fields(r)[0]) in chosen]),
        "Ratings": (ratings_header, [r for r, _ in kept]),
        "Books": (books_header, [r for r in books if fields(r)[0] in isbns]),
    }


def describe(target: Path) -> str:
    """Sizes of the written sample and of its cleaned table: read by the project's raw catalog
    entries, validated and cleaned by the pipeline's nodes (Ibis on DuckDB)."""
    config = OmegaConfigLoader(str(PROJECT_PATH / "conf"), **CONFIG_LOADER_ARGS)
    entries = {f"{stem.lower()}_raw": {**config["catalog"][f"{stem.lower()}_raw"],
                                       "filepath": str(target / f"{stem}.csv.gz")}
               for stem in STEMS}
    catalog = DataCatalog.from_config(entries)
    raw = {table: catalog.load(f"{table}_raw") for table in VALIDATORS}
    validated = {table: validate(raw[table])[0] for table, validate in VALIDATORS.items()}
    cleaned, _ = clean_ratings(**validated, params=config["parameters"]["data_processing"])
    sizes = {table: int(rows.count().execute()) for table, rows in raw.items()}
    summary = cleaned.aggregate(rows=cleaned.count(), users=cleaned["User-ID"].nunique(),
                                titles=cleaned["Book-Title"].nunique()).execute().iloc[0]
    megabytes = sum((target / f"{stem}.csv.gz").stat().st_size for stem in STEMS) / 1e6
    return (f"{sizes['users']} users, {sizes['ratings']} ratings, {sizes['books']} books, "
            f"{megabytes:.2f} MB; cleaned: {summary['rows']} rows, {summary['users']} users, "
            f"{summary['titles']} unique titles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=PROJECT_PATH.parent / "shared/data/book-crossing")
    parser.add_argument("--target", type=Path, default=PROJECT_PATH / "data/01_raw")
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args()

    args.target.mkdir(parents=True, exist_ok=True)
    for stem, (header, records) in sample_records(args.source, args.users, args.seed).items():
        write_gzip(args.target / f"{stem}.csv.gz", header, records)
    print(describe(args.target))  # noqa: T201


if __name__ == "__main__":
    main()
