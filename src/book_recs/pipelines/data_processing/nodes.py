"""Validation and cleaning of the raw Book-Crossing tables (the article's protocol, exactly).

Every rule logs how many rows it touched and the counts are returned as a report. Real-data quirks
(shifted rows, year 0, ages 0..244, odd locations) are handled and counted, never fatal; a missing
column or an empty table stops the run with an error that names the file.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = {
    "Users.csv": ("User-ID", "Location", "Age"),
    "Ratings.csv": ("User-ID", "ISBN", "Book-Rating"),
    "Books.csv": ("ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"),
}
CLEANED_COLUMNS = [
    "User-ID", "ISBN", "Book-Rating", "Book-Title", "Book-Author", "Year-Of-Publication",
    "Publisher", "Age", "city", "state", "country", "label",
]
LOCATION_PARTS = ("city", "state", "country")
# A book's missing author or publisher is this token, in explicit and implicit rows alike.
MISSING_BOOK_FIELDS = {"Book-Author": "unknown", "Publisher": "unknown"}
# Location parts that carry no place: compared after strip() and lower().
MISSING_LOCATION_PARTS = ("", "n/a")


class RawDataError(ValueError):
    """A raw table cannot be used: the message names the file and what is wrong."""


def validate_raw_table(table: pd.DataFrame, file_name: str) -> None:
    """Stop on a raw table that misses a required column or has no rows.

    Args:
        table: The table as loaded.
        file_name: ``Users.csv``, ``Ratings.csv`` or ``Books.csv``; names the file in errors.

    Raises:
        RawDataError: ``"Users.csv: missing column 'Age'"`` or ``"Books.csv: table is empty"``.
    """
    missing = [c for c in REQUIRED_COLUMNS[file_name] if c not in table.columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        names = ", ".join(f"'{c}'" for c in missing)
        raise RawDataError(f"{file_name}: missing {noun} {names} (found {list(table.columns)})")
    if table.empty:
        raise RawDataError(f"{file_name}: table is empty")


def split_location(location: pd.Series) -> pd.DataFrame:
    """City, state and country: the first three comma parts of ``"city, state, country"``.

    As the article: part 0 is the city, part 1 the state, part 2 the country; parts after the
    third are ignored. Unlike the article's ``x.split(',')[2]`` it does not fail: a missing
    location or a missing part gives NA, and so does a part that is empty or ``n/a``. Parts are
    stripped (which also removes the line break inside one real Location).

    Args:
        location: The ``Location`` column.

    Returns:
        Columns ``city``, ``state``, ``country`` (dtype ``str``, NaN when missing), same index.
    """
    # A missing location is an empty one: every part becomes NA below.
    parts = location.fillna("").astype("str").str.split(",", n=len(LOCATION_PARTS))
    columns = {}
    for index, name in enumerate(LOCATION_PARTS):
        # astype: a part missing in every row comes back as float NaN.
        values = parts.str[index].astype("str").str.strip()
        columns[name] = values.where(~values.str.lower().isin(MISSING_LOCATION_PARTS))
    return pd.DataFrame(columns, index=location.index)


def clean_ratings(
    users: pd.DataFrame, ratings: pd.DataFrame, books: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The article's cleaning: one row per explicit rating of a book with a title.

    In the article's order: users LEFT JOIN ratings (User-ID) LEFT JOIN books (ISBN); drop rows
    without a rating; missing Book-Author / Publisher -> "unknown"; drop rows without a title;
    Year-Of-Publication to numeric (coerce: the shifted rows become missing); Age > max_age ->
    missing; Year clipped to [0, max_year] and <= 0 -> missing; keep Book-Rating > 0;
    city / state / country from Location; label = Book-Rating > positive_rating_threshold.

    Args:
        users: Raw Users table (User-ID, Location, Age).
        ratings: Raw Ratings table (User-ID, ISBN, Book-Rating).
        books: Raw Books table (ISBN, Book-Title, Book-Author, Year-Of-Publication, Publisher, ...).
        params: ``max_age``, ``max_year``, ``positive_rating_threshold``.

    Returns:
        The cleaned table (columns ``CLEANED_COLUMNS``, dtypes of the data contract) and the
        number of rows each rule touched (``cleaning_summary``).

    Raises:
        RawDataError: A raw table misses a column or is empty.
    """
    for table, file_name in ((users, "Users.csv"), (ratings, "Ratings.csv"), (books, "Books.csv")):
        validate_raw_table(table, file_name)
    counts: dict[str, int] = {"users": len(users), "ratings": len(ratings), "books": len(books)}

    # A duplicated ISBN would copy its ratings in the join (the real data has none).
    counts["dropped_duplicate_isbn"] = int(books["ISBN"].duplicated().sum())
    books = books.drop_duplicates("ISBN")
    merged = users.merge(ratings, on="User-ID", how="left").merge(books, on="ISBN", how="left")
    counts["joined_rows"] = len(merged)

    has_rating = merged["Book-Rating"].notna()
    counts["dropped_no_rating"] = int((~has_rating).sum())
    merged = merged[has_rating]

    for column in MISSING_BOOK_FIELDS:
        counts[f"unknown_{column}"] = int(merged[column].isna().sum())
    merged = merged.fillna(MISSING_BOOK_FIELDS)

    has_title = merged["Book-Title"].notna()
    counts["dropped_no_title"] = int((~has_title).sum())
    merged = merged[has_title]

    year = pd.to_numeric(merged["Year-Of-Publication"], errors="coerce").astype("float64")
    counts["year_not_numeric"] = int((year.isna() & merged["Year-Of-Publication"].notna()).sum())

    age = merged["Age"].astype("float64")
    too_old = age > params["max_age"]
    counts["age_above_max"] = int(too_old.sum())
    age = age.mask(too_old)

    counts["year_above_max"] = int((year > params["max_year"]).sum())
    year = year.clip(0, params["max_year"])
    no_year = year <= 0
    counts["year_zero_or_less"] = int(no_year.sum())
    year = year.mask(no_year)

    rating = merged["Book-Rating"].astype("int64")
    explicit = (rating > 0).to_numpy()
    counts["dropped_implicit_rating"] = int((~explicit).sum())
    merged, rating, year, age = merged[explicit], rating[explicit], year[explicit], age[explicit]

    location = split_location(merged["Location"])
    for column in LOCATION_PARTS:
        counts[f"missing_{column}"] = int(location[column].isna().sum())

    cleaned = pd.DataFrame(
        {
            "User-ID": merged["User-ID"].astype("int64"),
            "ISBN": merged["ISBN"].astype("str"),
            "Book-Rating": rating,
            "Book-Title": merged["Book-Title"].astype("str"),
            "Book-Author": merged["Book-Author"].astype("str"),
            "Year-Of-Publication": year,
            "Publisher": merged["Publisher"].astype("str"),
            "Age": age,
            **{column: location[column] for column in LOCATION_PARTS},
            "label": (rating > params["positive_rating_threshold"]).astype("int64"),
        }
    ).reset_index(drop=True)

    counts["cleaned_rows"] = len(cleaned)
    counts["cleaned_users"] = int(cleaned["User-ID"].nunique())
    counts["cleaned_books"] = int(cleaned["ISBN"].nunique())
    counts["positive_rows"] = int(cleaned["label"].sum())
    for rule, count in counts.items():
        logger.info("cleaning: %-28s %9d", rule, count)
    logger.info("cleaning: positive rate %.4f", cleaned["label"].mean() if len(cleaned) else np.nan)
    return cleaned, counts


def extract_implicit_interactions(ratings: pd.DataFrame, books: pd.DataFrame) -> pd.DataFrame:
    """The implicit interactions (``Book-Rating`` 0): a user has the book but did not rate it.

    The article drops them; here they feed target-free item statistics (how often train users
    hold a book, author or publisher without rating it). The same book rules as
    ``clean_ratings``: books without a title are dropped, a missing author or publisher is
    "unknown". Which users' rows may be used is the feature stage's business (train users only).

    Args:
        ratings: Raw Ratings table (User-ID, ISBN, Book-Rating).
        books: Raw Books table.

    Returns:
        One row per implicit interaction: ``User-ID`` (int64), ``ISBN``, ``Book-Title``,
        ``Book-Author``, ``Publisher`` (``str``): the item keys the statistics may count.

    Raises:
        RawDataError: A raw table misses a column or is empty.
    """
    for table, file_name in ((ratings, "Ratings.csv"), (books, "Books.csv")):
        validate_raw_table(table, file_name)
    rating_0 = ratings[ratings["Book-Rating"] == 0]
    implicit = rating_0.merge(books.drop_duplicates("ISBN").dropna(subset="Book-Title"),
                              on="ISBN", how="inner").fillna(MISSING_BOOK_FIELDS)
    logger.info("implicit interactions of titled books: %d of %d rating-0 rows", len(implicit),
                len(rating_0))
    return pd.DataFrame({
        "User-ID": implicit["User-ID"].astype("int64"),
        **{column: implicit[column].astype("str")
           for column in ("ISBN", "Book-Title", "Book-Author", "Publisher")},
    })
