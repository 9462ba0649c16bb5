"""The data stages on the complete Book-Crossing data: the article's row counts come out.

Needs ``../shared/data/book-crossing`` beside the repo; skipped when it is absent. Takes about
half a minute (reading 1.15M ratings, the join and the split).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from book_recs.pipelines.data_processing.nodes import clean_ratings
from book_recs.pipelines.data_split.nodes import split_users

PROJECT_PATH = Path(__file__).resolve().parents[1]
FULL_DATA = PROJECT_PATH.parent / "shared" / "data" / "book-crossing"
RAW_NAMES = {"users": "users_raw", "ratings": "ratings_raw", "books": "books_raw"}

pytestmark = pytest.mark.full_data
logger = logging.getLogger(__name__)


def load_raw(name: str) -> pd.DataFrame:
    """A full-data table read with the load_args of its catalog entry."""
    catalog = yaml.safe_load((PROJECT_PATH / "conf/base/catalog.yml").read_text())
    stem = name.removesuffix("_raw").capitalize()
    return pd.read_csv(FULL_DATA / f"{stem}.csv.gz", **catalog[name]["load_args"])


def load_params(name: str) -> dict:
    return yaml.safe_load((PROJECT_PATH / f"conf/base/parameters_{name}.yml").read_text())[name]


@pytest.fixture(scope="module")
def cleaned():
    if not all((FULL_DATA / f"{n}.csv.gz").exists() for n in ("Books", "Ratings", "Users")):
        pytest.skip(f"full Book-Crossing data not found in {FULL_DATA}")
    start = time.perf_counter()
    tables = {arg: load_raw(name) for arg, name in RAW_NAMES.items()}
    loaded = time.perf_counter()
    table, summary = clean_ratings(**tables, params=load_params("data_processing"))
    logger.warning("full data: load %.1f s, clean %.1f s", loaded - start,
                   time.perf_counter() - loaded)
    return table, summary


def test_full_data_cleaning_matches_the_article(cleaned):
    table, summary = cleaned
    assert len(table) == pytest.approx(383_800, rel=0.01)
    assert table["User-ID"].nunique() == pytest.approx(68_100, rel=0.01)
    assert table["label"].mean() == pytest.approx(0.583, abs=0.01)
    assert summary["year_not_numeric"] == 3  # the shifted "DK Publishing Inc" / "Gallimard" rows
    assert table["Book-Author"].eq("None").any()  # the author literally "None" kept
    assert table["Age"].max() <= 100
    assert table["Year-Of-Publication"].min() > 0
    assert table["Year-Of-Publication"].max() <= 2021
    assert table["Book-Rating"].between(1, 10).all()
    assert not table["country"].isin(["", "n/a"]).any()


def test_full_data_split_matches_the_article(cleaned):
    table, _ = cleaned
    start = time.perf_counter()
    train, valid, test = split_users(table, load_params("data_split"))
    logger.warning("full data: split %.1f s, rows %d/%d/%d", time.perf_counter() - start,
                   len(train), len(valid), len(test))
    assert len(train) == pytest.approx(274_000, rel=0.01)
    assert len(valid) == pytest.approx(37_000, rel=0.05)
    assert len(test) == pytest.approx(73_000, rel=0.03)
    assert len(train) + len(valid) + len(test) == len(table)
    users = [set(part["User-ID"]) for part in (train, valid, test)]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])
