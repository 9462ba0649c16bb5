"""Validation and cleaning of the raw Book-Crossing tables (the article's protocol), as Ibis
expressions: the same nodes run on DuckDB (embedded, the default) and on PySpark.

Nothing is dropped silently. Every raw row that is not kept is counted under one reason, and the
counts come out as one-row tables that ``summarize_cleaning`` logs and saves as
``cleaning_summary``:

- validation (per file): rows the CSV reader could not parse (``<file>_rejected_rows``), unusable
  ids (empty or not an integer), ratings that are not an integer in 0..10, duplicated keys (the first
  row in file order is kept), and numbers typed as text (an ``Age`` of ``"n/a"`` becomes missing:
  counted, the row kept);
- cleaning: each rule of the article (``dropped_no_rating``, ``dropped_no_title``,
  ``dropped_implicit_rating``, ...), and the ratings of users absent from the users file.

Row order: ``row_order`` (users in file order, then each user's ratings in file order: the order of
the article's pandas joins) fixes the order of every table that follows, on any engine.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from book_recs.columns import BOOK_COLUMN, LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.datasets.raw_csv import PARSE_ERROR_COLUMN, ROW_COLUMN

logger = logging.getLogger(__name__)

ORDER_COLUMN = "row_order"
"""Position of a row in the raw files: users' file order, then ratings' file order."""
CLEANED_COLUMNS = [
    USER_COLUMN, BOOK_COLUMN, RATING_COLUMN, "Book-Title", "Book-Author", "Year-Of-Publication",
    "Publisher", "Age", "city", "state", "country", LABEL_COLUMN, ORDER_COLUMN,
]
IMPLICIT_COLUMNS = [USER_COLUMN, BOOK_COLUMN, "Book-Title", "Book-Author", "Publisher"]
BOOK_FIELDS = [BOOK_COLUMN, "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"]
LOCATION_PARTS = ("city", "state", "country")
# A book's missing author or publisher is this token, in explicit and implicit rows alike.
MISSING_BOOK_FIELDS = {"Book-Author": "unknown", "Publisher": "unknown"}
# Location parts that carry no place: compared after stripping and lower-casing.
MISSING_LOCATION_PARTS = ("", "n/a")
# White space around a location part (the line break inside one real Location included).
LOCATION_PADDING = "^[ \t\n\r]+|[ \t\n\r]+$"
MAX_RATING = 10
# Ratings rows per user fit in 32 bits: row_order = user's row * 2**32 + rating's row.
_ROW_SHIFT = 2**32


def _text(column: ir.StringValue) -> ir.StringValue:
    """Empty text is missing, as the layout's own null token already is."""
    return column.nullif("")


def _first_per_key(table: ir.Table, keys: list[str]) -> ir.Table:
    """The first row (in file order) of each key."""
    rank = ibis.row_number().over(group_by=keys, order_by=ROW_COLUMN)
    return table.mutate(_rank=rank).filter(ibis._["_rank"] == 0).drop("_rank")


def _parsed(raw: ir.Table) -> ir.Table:
    return raw.filter(raw[PARSE_ERROR_COLUMN].isnull())


def _one_row(*aggregates: ir.Table) -> ir.Table:
    """One-row aggregates (of different tables) side by side: one row of counts."""
    return functools.reduce(lambda left, right: left.cross_join(right), aggregates)


def _file_counts(raw: ir.Table, prefix: str) -> ir.Table:
    return raw.aggregate(**{
        f"{prefix}_rows": raw.count(),
        f"{prefix}_rejected_rows": raw.count(where=raw[PARSE_ERROR_COLUMN].notnull())})


def _keep_first(usable: ir.Table, keys: list[str], kept_name: str,
                duplicates_name: str) -> tuple[ir.Table, ir.Table]:
    """The first row of each key, and a one-row table counting the kept rows and the repeats."""
    kept = _first_per_key(usable, keys)
    counts = _one_row(usable.aggregate(_usable=usable.count()),
                      kept.aggregate(**{kept_name: kept.count()}))
    return kept, counts.mutate(**{duplicates_name: counts["_usable"] - counts[kept_name]}
                               ).drop("_usable")


def validate_users(users: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Typed users: ``User-ID`` (int64), ``Location`` (text), ``Age`` (float64), ``_row``.

    Dropped and counted: unparsed rows, rows whose ``User-ID`` is empty or not an integer, and
    repeated ``User-ID`` rows (the first is kept). An ``Age`` that is not a number becomes missing
    (counted as ``users_age_not_numeric``; the row is kept).

    Args:
        users: The raw users table (text columns, ``_row``, ``_parse_error``).

    Returns:
        The validated users and their one-row count table.
    """
    parsed = _parsed(users)
    age_text = _text(parsed["Age"])
    typed = parsed.mutate(**{
        USER_COLUMN: _text(parsed[USER_COLUMN]).try_cast("int64"),
        "Location": _text(parsed["Location"]),
        "Age": age_text.try_cast("float64"),
        "_age_text": age_text,
    })
    has_id = typed[USER_COLUMN].notnull()
    kept, kept_counts = _keep_first(typed.filter(has_id), [USER_COLUMN], "users",
                                    "users_duplicate_user_id")
    counts = _one_row(_file_counts(users, "users"), typed.aggregate(
        users_invalid_user_id=typed.count(where=~has_id),
        users_age_not_numeric=typed.count(
            where=has_id & typed["Age"].isnull() & typed["_age_text"].notnull()),
    ), kept_counts)
    return kept.select(ROW_COLUMN, USER_COLUMN, "Location", "Age").order_by(ROW_COLUMN), counts


def validate_ratings(ratings: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Typed ratings: ``User-ID`` (int64), ``ISBN`` (text), ``Book-Rating`` (int64), ``_row``.

    Dropped and counted, each row under its first reason: unparsed rows, an empty or non-integer
    ``User-ID``, an empty ``ISBN``, a ``Book-Rating`` that is not an integer in 0..10, and a
    repeated (User-ID, ISBN) pair (the first rating in file order is kept).

    Returns:
        The validated ratings and their one-row count table.
    """
    parsed = _parsed(ratings)
    typed = parsed.mutate(**{
        USER_COLUMN: _text(parsed[USER_COLUMN]).try_cast("int64"),
        BOOK_COLUMN: _text(parsed[BOOK_COLUMN]),
        RATING_COLUMN: _text(parsed[RATING_COLUMN]).try_cast("int64"),
    })
    has_user = typed[USER_COLUMN].notnull()
    has_book = has_user & typed[BOOK_COLUMN].notnull()
    valid_rating = typed[RATING_COLUMN].between(0, MAX_RATING).fill_null(False)
    kept, kept_counts = _keep_first(typed.filter(has_book & valid_rating),
                                    [USER_COLUMN, BOOK_COLUMN], "ratings",
                                    "ratings_duplicate_pairs")
    counts = _one_row(_file_counts(ratings, "ratings"), typed.aggregate(
        ratings_invalid_user_id=typed.count(where=~has_user),
        ratings_missing_isbn=typed.count(where=has_user & typed[BOOK_COLUMN].isnull()),
        ratings_invalid_rating=typed.count(where=has_book & ~valid_rating),
    ), kept_counts)
    return (kept.select(ROW_COLUMN, USER_COLUMN, BOOK_COLUMN, RATING_COLUMN).order_by(ROW_COLUMN),
            counts)


def validate_books(books: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Typed books: the ``BOOK_FIELDS`` as text and ``_row`` (the image URLs are not kept).

    ``Year-Of-Publication`` stays text here: turning it into a number is one of the article's
    cleaning rules (``year_not_numeric``). Dropped and counted: unparsed rows, an empty ``ISBN``
    and a repeated ``ISBN`` (the first is kept: a repeat would copy its ratings in the join).

    Returns:
        The validated books and their one-row count table.
    """
    parsed = _parsed(books)
    typed = parsed.select(ROW_COLUMN, *[_text(parsed[c]).name(c) for c in BOOK_FIELDS])
    has_isbn = typed[BOOK_COLUMN].notnull()
    kept, kept_counts = _keep_first(typed.filter(has_isbn), [BOOK_COLUMN], "books",
                                    "books_duplicate_isbn")
    counts = _one_row(_file_counts(books, "books"),
                      typed.aggregate(books_missing_isbn=typed.count(where=~has_isbn)),
                      kept_counts)
    return kept.order_by(ROW_COLUMN), counts


def split_location(location: ir.StringValue) -> dict[str, ir.StringValue]:
    """City, state and country: the first three comma parts of ``"city, state, country"``.

    As the article: part 0 is the city, part 1 the state, part 2 the country; parts after the
    third are ignored. Unlike the article's ``x.split(',')[2]`` it does not fail: a missing
    location or a missing part gives null, and so does a part that is empty or ``n/a``. Parts are
    stripped of white space (which also removes the line break inside one real Location).
    """
    parts = location.fill_null("").split(",")
    columns = {}
    for index, name in enumerate(LOCATION_PARTS):
        # A regular expression, not strip(): Ibis writes strip()'s \v and \f into Spark SQL as
        # escapes Spark reads as the letters v and f.
        part = parts[index].re_replace(LOCATION_PADDING, "")
        columns[name] = ibis.ifelse(part.lower().isin(MISSING_LOCATION_PARTS), ibis.null("string"),
                                    part)
    return columns


def clean_ratings(
    users: ir.Table, ratings: ir.Table, books: ir.Table, params: dict[str, Any]
) -> tuple[ir.Table, ir.Table]:
    """The article's cleaning: one row per explicit rating of a book with a title.

    In the article's order: users LEFT JOIN ratings (User-ID) LEFT JOIN books (ISBN); drop rows
    without a rating; missing Book-Author / Publisher -> "unknown"; drop rows without a title;
    Year-Of-Publication to a number (text -> missing: the shifted rows); Age > max_age -> missing;
    Year clipped to [0, max_year] and <= 0 -> missing; keep Book-Rating > 0; city / state /
    country from Location; label = Book-Rating > positive_rating_threshold.

    Args:
        users, ratings, books: The validated tables (``validate_*``).
        params: ``max_age``, ``max_year``, ``positive_rating_threshold``.

    Returns:
        The cleaned table (``CLEANED_COLUMNS``, in ``row_order``) and a one-row table with the
        number of rows each rule touched.
    """
    user_rows = users.rename(_user_row=ROW_COLUMN)
    rated = ratings.rename(_rating_row=ROW_COLUMN, _rating_user=USER_COLUMN)
    book_rows = books.drop(ROW_COLUMN).rename(_book_isbn=BOOK_COLUMN)
    with_ratings = user_rows.left_join(rated, user_rows[USER_COLUMN] == rated["_rating_user"])
    merged = with_ratings.left_join(book_rows,
                                    with_ratings[BOOK_COLUMN] == book_rows["_book_isbn"])
    year_number = merged["Year-Of-Publication"].try_cast("float64")
    clipped_year = year_number.clip(0, params["max_year"])
    has_rating = merged[RATING_COLUMN].notnull()
    # The rules in the article's order; each flag is the rows still in play after the previous.
    rows = merged.mutate(
        _has_rating=has_rating,
        _has_title=has_rating & merged["Book-Title"].notnull(),
        _year_text=merged["Year-Of-Publication"],
        _raw_age=merged["Age"],
        _year_number=year_number,
        _clipped_year=clipped_year,
        **{f"_no_{column}": merged[column].isnull() for column in MISSING_BOOK_FIELDS},
        **{"Year-Of-Publication": ibis.ifelse(clipped_year <= 0, ibis.null("float64"),
                                              clipped_year),
           "Age": ibis.ifelse(merged["Age"] > params["max_age"], ibis.null("float64"),
                              merged["Age"]),
           **{column: merged[column].fill_null(token)
              for column, token in MISSING_BOOK_FIELDS.items()}},
    )
    titled = rows["_has_title"]
    cleaned = rows.filter(titled & (rows[RATING_COLUMN] > 0)).mutate(
        **split_location(rows["Location"]),
        **{LABEL_COLUMN: (rows[RATING_COLUMN] > params["positive_rating_threshold"]).cast("int64"),
           ORDER_COLUMN: rows["_user_row"] * _ROW_SHIFT + rows["_rating_row"]},
    ).select(*CLEANED_COLUMNS).order_by(ORDER_COLUMN)

    unknown_users = ratings.anti_join(users, USER_COLUMN)
    counts = _one_row(rows.aggregate(
        joined_rows=rows.count(),
        dropped_no_rating=rows.count(where=~rows["_has_rating"]),
        **{f"unknown_{column}": rows.count(where=rows["_has_rating"] & rows[f"_no_{column}"])
           for column in MISSING_BOOK_FIELDS},
        dropped_no_title=rows.count(where=rows["_has_rating"] & ~titled),
        year_not_numeric=rows.count(where=titled & rows["_year_number"].isnull()
                                    & rows["_year_text"].notnull()),
        age_above_max=rows.count(where=titled & (rows["_raw_age"] > params["max_age"])),
        year_above_max=rows.count(where=titled & (rows["_year_number"] > params["max_year"])),
        year_zero_or_less=rows.count(where=titled & (rows["_clipped_year"] <= 0)),
        dropped_implicit_rating=rows.count(where=titled & (rows[RATING_COLUMN] <= 0)),
    ), cleaned.aggregate(
        **{f"missing_{column}": cleaned.count(where=cleaned[column].isnull())
           for column in LOCATION_PARTS},
        cleaned_rows=cleaned.count(),
        cleaned_users=cleaned[USER_COLUMN].nunique(),
        cleaned_books=cleaned[BOOK_COLUMN].nunique(),
        positive_rows=cleaned[LABEL_COLUMN].sum().fill_null(0),
    ), unknown_users.aggregate(ratings_unknown_user=unknown_users.count()))
    return cleaned, counts


def extract_implicit_interactions(ratings: ir.Table, books: ir.Table) -> tuple[ir.Table, ir.Table]:
    """The implicit interactions (``Book-Rating`` 0): a user has the book but did not rate it.

    The article drops them; here they feed target-free item statistics (how often train users
    hold a book, author or publisher without rating it). The same book rules as
    ``clean_ratings``: books without a title are dropped (counted as
    ``implicit_without_titled_book``), a missing author or publisher is "unknown". Which users'
    rows may be used is the feature stage's business (train users only).

    Args:
        ratings, books: The validated tables.

    Returns:
        One row per implicit interaction (``IMPLICIT_COLUMNS``, in the ratings' file order), and a
        one-row count table.
    """
    rating_0 = ratings.filter(ratings[RATING_COLUMN] == 0)
    titled_books = books.filter(books["Book-Title"].notnull()).drop(ROW_COLUMN)
    implicit = (rating_0.join(titled_books, BOOK_COLUMN)
                .mutate(**{column: ibis._[column].fill_null(token)
                           for column, token in MISSING_BOOK_FIELDS.items()})
                .order_by(ROW_COLUMN).select(*IMPLICIT_COLUMNS))
    counts = _one_row(rating_0.aggregate(rating_0_rows=rating_0.count()),
                      implicit.aggregate(implicit_rows=implicit.count()))
    counts = counts.mutate(
        implicit_without_titled_book=counts["rating_0_rows"] - counts["implicit_rows"])
    return implicit, counts


def summarize_cleaning(*count_tables: pd.DataFrame) -> dict[str, int]:
    """One dict of every count (validation, cleaning, implicit interactions), logged line by line.

    Args:
        count_tables: The one-row count tables of the stage's nodes.

    Returns:
        ``cleaning_summary``: count name -> rows.
    """
    summary = {name: int(value) for table in count_tables
               for name, value in table.iloc[0].items()}
    for rule, count in summary.items():
        logger.info("cleaning: %-30s %9d", rule, count)
    if summary.get("cleaned_rows"):
        logger.info("cleaning: positive rate %.4f", summary["positive_rows"] / summary["cleaned_rows"])
    dropped = {name: count for name, count in summary.items()
               if name.endswith(("_rejected_rows", "_invalid_user_id", "_invalid_rating",
                                 "_missing_isbn", "_duplicate_user_id", "_duplicate_pairs",
                                 "_duplicate_isbn", "_unknown_user")) and count}
    if dropped:
        logger.warning("raw rows dropped as unusable: %s", dropped)
    return summary
