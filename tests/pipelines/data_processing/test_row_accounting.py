"""Nothing is dropped silently: for any raw tables, every input row is kept or counted under one
reason (a property checked on generated tables with hypothesis).

The nodes' expressions are compiled to SQL once, on unbound tables; each generated example then
only registers its three frames with DuckDB and runs that SQL.
"""

from __future__ import annotations

import functools

import duckdb
import ibis
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from book_recs.datasets.raw_csv import PARSE_ERROR_COLUMN, REQUIRED_COLUMNS, ROW_COLUMN
from book_recs.pipelines.data_processing.nodes import (
    clean_ratings,
    extract_implicit_interactions,
    validate_books,
    validate_ratings,
    validate_users,
)

PARAMS = {"max_age": 100, "max_year": 2021, "positive_rating_threshold": 7}
SCHEMAS = {table: {**dict.fromkeys(columns, "string"), ROW_COLUMN: "int64",
                   PARSE_ERROR_COLUMN: "string"}
           for table, columns in REQUIRED_COLUMNS.items()}

# Small alphabets, so that ids repeat, collide across tables and go bad in every way.
ids = st.sampled_from(["1", "2", "3", "07", "x", "", None])
isbns = st.sampled_from(["A", "B", "C", "", None])
texts = st.sampled_from(["Dune", "", None, "paris, france", "n/a, n/a, n/a"])
numbers = st.sampled_from(["0", "5", "10", "11", "-1", "2050", "1999", "3.5", "ten", "", None])
parse_errors = st.sampled_from([None, None, None, "line 2: too many columns"])


def raw_frames(columns: dict[str, st.SearchStrategy]) -> st.SearchStrategy[pd.DataFrame]:
    row = st.fixed_dictionaries({**columns, PARSE_ERROR_COLUMN: parse_errors})
    return st.lists(row, max_size=12).map(lambda rows: pd.DataFrame(
        rows, columns=[*columns, PARSE_ERROR_COLUMN]).assign(**{ROW_COLUMN: range(len(rows))}))


USERS = raw_frames({"User-ID": ids, "Location": texts, "Age": numbers})
RATINGS = raw_frames({"User-ID": ids, "ISBN": isbns, "Book-Rating": numbers})
BOOKS = raw_frames({"ISBN": isbns, "Book-Title": texts, "Book-Author": texts,
                    "Year-Of-Publication": numbers, "Publisher": texts})


@functools.cache
def count_queries() -> dict[str, str]:
    """SQL of every count table, over the unbound raw tables users_raw, ratings_raw, books_raw."""
    raw = {name: ibis.table(schema, name=f"{name}_raw") for name, schema in SCHEMAS.items()}
    (users, user_counts), (ratings, rating_counts), (books, book_counts) = (
        validate_users(raw["users"]), validate_ratings(raw["ratings"]),
        validate_books(raw["books"]))
    tables = {"users": user_counts, "ratings": rating_counts, "books": book_counts,
              "cleaning": clean_ratings(users, ratings, books, PARAMS)[1],
              "implicit": extract_implicit_interactions(ratings, books)[1]}
    return {name: str(ibis.to_sql(table, dialect="duckdb")) for name, table in tables.items()}


@settings(max_examples=25, deadline=None)
@given(users=USERS, ratings=RATINGS, books=BOOKS)
def test_every_raw_row_is_kept_or_counted_once(users, ratings, books):
    con = duckdb.connect()
    for name, frame in (("users", users), ("ratings", ratings), ("books", books)):
        con.register(f"{name}_raw", frame.astype({c: "object" for c in frame.columns
                                                  if c != ROW_COLUMN}))
    counts = {}
    for sql in count_queries().values():
        counts.update({k: int(v) for k, v in con.sql(sql).df().iloc[0].items()})
    for table, reasons in {
        "users": ["rejected_rows", "invalid_user_id", "duplicate_user_id"],
        "ratings": ["rejected_rows", "invalid_user_id", "missing_isbn", "invalid_rating",
                    "duplicate_pairs"],
        "books": ["rejected_rows", "missing_isbn", "duplicate_isbn"],
    }.items():
        assert counts[f"{table}_rows"] == len(locals()[table])
        assert counts[f"{table}_rows"] == counts[table] + sum(counts[f"{table}_{r}"] for r in reasons)
    # Validated ratings: joined to a user, or counted as of an unknown user.
    assert counts["ratings"] == (counts["joined_rows"] - counts["dropped_no_rating"]
                                 + counts["ratings_unknown_user"])
    # Joined rows: a user without ratings, a rating without a titled book, an implicit rating,
    # or a cleaned row.
    assert counts["joined_rows"] == (counts["dropped_no_rating"] + counts["dropped_no_title"]
                                     + counts["dropped_implicit_rating"] + counts["cleaned_rows"])
    assert counts["rating_0_rows"] == counts["implicit_rows"] + counts["implicit_without_titled_book"]
