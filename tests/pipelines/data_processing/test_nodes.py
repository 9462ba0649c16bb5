"""Every validation and cleaning rule on small hand-made tables, with the real data's traps, run
as the Ibis expressions they are on an in-memory DuckDB."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from book_recs.datasets.raw_csv import PARSE_ERROR_COLUMN, ROW_COLUMN
from book_recs.pipelines.data_processing.nodes import (
    CLEANED_COLUMNS,
    clean_ratings,
    extract_implicit_interactions,
    split_location,
    summarize_cleaning,
    validate_books,
    validate_ratings,
    validate_users,
)

PARAMS = {"max_age": 100, "max_year": 2021, "positive_rating_threshold": 7}
CONTRACT_DTYPES = {
    "User-ID": "int64", "ISBN": "str", "Book-Rating": "int64", "Book-Title": "str",
    "Book-Author": "str", "Year-Of-Publication": "float64", "Publisher": "str", "Age": "float64",
    "city": "str", "state": "str", "country": "str", "label": "int64", "row_order": "int64",
}


def raw_table(data: dict, rejected: int = 0) -> ibis.Table:
    """A raw table as ``RawCSVDataset`` loads it: text columns, ``_row``, ``_parse_error``; plus
    ``rejected`` rows the CSV reader could not parse."""
    frame = pd.DataFrame(data, dtype=object).astype("str").where(pd.DataFrame(data).notna(), None)
    frame[ROW_COLUMN] = np.arange(len(frame), dtype=np.int64)
    frame[PARSE_ERROR_COLUMN] = None
    junk = pd.DataFrame({c: [None] * rejected for c in data}
                        | {ROW_COLUMN: [None] * rejected,
                           PARSE_ERROR_COLUMN: ["line 9: too many columns"] * rejected})
    schema = {c: "string" for c in data} | {ROW_COLUMN: "int64", PARSE_ERROR_COLUMN: "string"}
    return ibis.memtable(pd.concat([frame, junk], ignore_index=True), schema=schema)


def run(expression: ibis.Table) -> pd.DataFrame:
    return ibis.duckdb.connect().execute(expression)


def counts(table: ibis.Table) -> dict[str, int]:
    return {name: int(value) for name, value in run(table).iloc[0].items()}


@pytest.fixture(scope="module")
def users() -> ibis.Table:
    return raw_table({
        "User-ID": ["1", "2", "3", "4", "5", "6"],
        "Location": ["lisbon, lisboa, portugal", "porto, n/a, portugal", "solo", None,
                     "leeds, west yorkshire, england, united kingdom", "cernusco s\r\n, milan, italy"],
        "Age": ["30", "0", "244", None, "100.0", "101"],
    })


@pytest.fixture(scope="module")
def ratings() -> ibis.Table:
    return raw_table({
        "User-ID": ["1", "1", "1", "1", "2", "2", "3", "5", "6"],
        "ISBN": ["A", "B", "C", "D", "E", "F", "A", "X", "B"],
        "Book-Rating": ["8", "7", "0", "10", "9", "5", "3", "6", "1"],
    })


@pytest.fixture(scope="module")
def books() -> ibis.Table:
    # A: normal; B: year 0, no publisher; C: implicit-only; D: year 2050 and the author "None";
    # E: shifted row (year "DK Publishing Inc"); F: no title; X is not in Books at all.
    return raw_table({
        "ISBN": ["A", "B", "C", "D", "E", "F"],
        "Book-Title": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon\\Eric", None],
        "Book-Author": ["Ann", None, "Cid", "None", "2000", "Fay"],
        "Year-Of-Publication": ["1999", "0", "2001", "2050", "DK Publishing Inc", "1990"],
        "Publisher": ["Pub", None, "Pub", "Pub", "http://x", "Pub"],
    })


@pytest.fixture(scope="module")
def validated(users, ratings, books):
    return validate_users(users)[0], validate_ratings(ratings)[0], validate_books(books)[0]


@pytest.fixture(scope="module")
def cleaned(validated):
    table, summary = clean_ratings(*validated, PARAMS)
    return run(table), counts(summary)


def row(table: pd.DataFrame, user: int, isbn: str) -> pd.Series:
    match = table[(table["User-ID"] == user) & (table["ISBN"] == isbn)]
    assert len(match) == 1
    return match.iloc[0]


def test_clean_ratings_keeps_explicit_ratings_of_titled_books_only(cleaned):
    table, summary = cleaned
    # users 1..6 give 9 ratings + user 4 without any; C is implicit, F has no title, X no book.
    assert list(zip(table["User-ID"], table["ISBN"])) == [
        (1, "A"), (1, "B"), (1, "D"), (2, "E"), (3, "A"), (6, "B")]  # users' then ratings' order
    assert summary["joined_rows"] == 10
    assert summary["dropped_no_rating"] == 1
    assert summary["dropped_no_title"] == 2
    assert summary["dropped_implicit_rating"] == 1
    assert summary["cleaned_rows"] == len(table) == 6
    assert summary["cleaned_users"] == 4
    assert summary["positive_rows"] == 3
    # Every joined row is kept or dropped under exactly one rule.
    assert summary["joined_rows"] == (summary["dropped_no_rating"] + summary["dropped_no_title"]
                                      + summary["dropped_implicit_rating"] + summary["cleaned_rows"])


def test_clean_ratings_output_follows_the_contract(cleaned):
    table, _ = cleaned
    assert list(table.columns) == CLEANED_COLUMNS
    assert {c: str(t) for c, t in table.dtypes.items()} == CONTRACT_DTYPES
    assert table["row_order"].is_monotonic_increasing


def test_missing_author_and_publisher_become_unknown_and_author_none_stays(cleaned):
    table, summary = cleaned
    assert row(table, 1, "B")["Book-Author"] == "unknown"
    assert row(table, 1, "B")["Publisher"] == "unknown"
    assert row(table, 1, "D")["Book-Author"] == "None"
    # B twice and the title-less X once, before the title rule drops X.
    assert summary["unknown_Book-Author"] == 3
    assert summary["unknown_Publisher"] == 3


def test_years_shifted_zero_and_future(cleaned):
    table, summary = cleaned
    assert row(table, 1, "A")["Year-Of-Publication"] == 1999.0
    assert np.isnan(row(table, 2, "E")["Year-Of-Publication"])  # shifted "DK Publishing Inc"
    assert np.isnan(row(table, 1, "B")["Year-Of-Publication"])  # year 0
    assert row(table, 1, "D")["Year-Of-Publication"] == 2021.0  # 2050 clipped
    assert summary["year_not_numeric"] == 1
    assert summary["year_above_max"] == 1
    assert summary["year_zero_or_less"] == 2  # B for users 1 and 6


def test_ages_above_max_become_missing(cleaned):
    table, summary = cleaned
    assert row(table, 2, "E")["Age"] == 0.0  # kept: the article only drops > 100
    assert np.isnan(row(table, 3, "A")["Age"])  # 244
    assert np.isnan(row(table, 6, "B")["Age"])  # 101
    assert row(table, 1, "A")["Age"] == 30.0
    assert summary["age_above_max"] == 2


def test_label_is_rating_above_threshold(cleaned):
    table, _ = cleaned
    assert table.set_index(["User-ID", "ISBN"])["label"].to_dict() == {
        (1, "A"): 1, (1, "B"): 0, (1, "D"): 1, (2, "E"): 1, (3, "A"): 0, (6, "B"): 0}


def test_location_parts_in_cleaned_table(cleaned):
    table, summary = cleaned
    assert tuple(row(table, 1, "A")[["city", "state", "country"]]) == ("lisbon", "lisboa", "portugal")
    assert pd.isna(row(table, 2, "E")["state"])
    assert row(table, 2, "E")["country"] == "portugal"
    assert row(table, 3, "A")["city"] == "solo"
    assert pd.isna(row(table, 3, "A")["country"])
    assert tuple(row(table, 6, "B")[["city", "state", "country"]]) == ("cernusco s", "milan", "italy")
    assert summary["missing_state"] == 2
    assert summary["missing_country"] == 1


LOCATIONS = [
    ("lisbon, lisboa, portugal", ("lisbon", "lisboa", "portugal")),
    (" a ,b,  c ", ("a", "b", "c")),
    ("leeds, west yorkshire, england, united kingdom", ("leeds", "west yorkshire", "england")),
    ("madrid, spain", ("madrid", "spain", None)),
    ("nowhere", ("nowhere", None, None)),
    ("n/a, n/a, n/a", (None, None, None)),
    ("berlin, N/A, germany", ("berlin", None, "germany")),
    ("new orleans, french quarter, ,", ("new orleans", "french quarter", None)),
    ("", (None, None, None)),
    (None, (None, None, None)),
]


def test_split_location():
    locations = ibis.memtable({"Location": [location for location, _ in LOCATIONS]},
                              schema={"Location": "string"})
    parts = run(locations.select(**split_location(locations["Location"])))
    found = [tuple(None if pd.isna(v) else v for v in values) for values in parts.itertuples(False)]
    assert found == [expected for _, expected in LOCATIONS]


def test_parameters_drive_the_thresholds(validated):
    table = run(clean_ratings(*validated, {"max_age": 25, "max_year": 1995,
                                           "positive_rating_threshold": 8})[0])
    assert np.isnan(row(table, 1, "A")["Age"])  # 30 > 25
    assert row(table, 2, "E")["Age"] == 0.0
    assert row(table, 1, "A")["Year-Of-Publication"] == 1995.0  # 1999 clipped
    assert row(table, 1, "A")["label"] == 0 and row(table, 1, "D")["label"] == 1


def test_implicit_interactions_are_the_rating_0_rows_of_titled_books(books):
    ratings = raw_table({"User-ID": ["1", "2", "4", "4"], "ISBN": ["C", "B", "F", "X"],
                         "Book-Rating": ["0", "0", "0", "0"]})
    implicit, implicit_counts = extract_implicit_interactions(validate_ratings(ratings)[0],
                                                              validate_books(books)[0])
    # F has no title and X is not in Books: dropped and counted; B's missing author and
    # publisher: "unknown".
    assert run(implicit).to_dict("list") == {"User-ID": [1, 2], "ISBN": ["C", "B"],
                                             "Book-Title": ["Gamma", "Beta"],
                                             "Book-Author": ["Cid", "unknown"],
                                             "Publisher": ["Pub", "unknown"]}
    assert counts(implicit_counts) == {"rating_0_rows": 4, "implicit_rows": 2,
                                       "implicit_without_titled_book": 2}


def test_unusable_raw_values_are_counted_and_never_kept():
    users = raw_table({"User-ID": ["1", "x", "", "1", "2"], "Location": ["a", "b", "c", "d", "e"],
                       "Age": ["30", "40", "50", "60", "thirty"]}, rejected=2)
    kept, user_counts = validate_users(users)
    # The engine returns the kept rows in any order; _row is their file order.
    kept_users = run(kept).sort_values(ROW_COLUMN).reset_index(drop=True)
    assert kept_users[["User-ID", "Location"]].to_dict("list") == {"User-ID": [1, 2],
                                                                   "Location": ["a", "e"]}
    assert np.isnan(kept_users["Age"].iloc[1])  # "thirty": missing, the row kept
    assert counts(user_counts) == {
        "users_rows": 7, "users_rejected_rows": 2, "users_invalid_user_id": 2,
        "users_age_not_numeric": 1, "users": 2, "users_duplicate_user_id": 1}

    ratings = raw_table({"User-ID": ["1", "1", "1", "1", "1", "z", "2"],
                         "ISBN": ["A", "A", "B", "C", None, "A", "D"],
                         "Book-Rating": ["8", "9", "11", "-1", "5", "5", "eight"]})
    kept, rating_counts = validate_ratings(ratings)
    assert run(kept)[["ISBN", "Book-Rating"]].to_dict("list") == {"ISBN": ["A"],
                                                                  "Book-Rating": [8]}
    assert counts(rating_counts) == {
        "ratings_rows": 7, "ratings_rejected_rows": 0, "ratings_invalid_user_id": 1,
        "ratings_missing_isbn": 1, "ratings_invalid_rating": 3, "ratings": 1,
        "ratings_duplicate_pairs": 1}


def test_summary_gathers_every_count_table():
    summary = summarize_cleaning(pd.DataFrame({"users": [3], "users_rejected_rows": [1]}),
                                 pd.DataFrame({"cleaned_rows": [2], "positive_rows": [1]}))
    assert summary == {"users": 3, "users_rejected_rows": 1, "cleaned_rows": 2, "positive_rows": 1}
