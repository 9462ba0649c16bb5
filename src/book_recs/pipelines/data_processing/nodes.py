"""Validation and cleaning of the raw Book-Crossing tables (the article's protocol, exactly).

Every rule logs how many rows it touched; ``clean_ratings`` also returns the counts so they are
kept as a report. Real-data quirks (shifted rows, year 0, ages 0..244, odd locations) are handled
and counted, never fatal; a missing column or an empty table stops the run with an error that
names the file.
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
MISSING_LOCATION_PARTS = ("", "n/a", "na", "none", "null")


class RawDataError(ValueError):
    """A raw table cannot be used: the message names the file and what is wrong."""


def validate_raw_table(table: pd.DataFrame, file_name: str) -> pd.DataFrame:
    """Check that a raw table has its required columns and at least one row.

    Args:
        table: The table as loaded.
        file_name: ``Users.csv``, ``Ratings.csv`` or ``Books.csv``: names the file in errors.

    Returns:
        The table, unchanged.

    Raises:
        RawDataError: On a missing column or an empty table.
    """
    missing = [c for c in REQUIRED_COLUMNS[file_name] if c not in table.columns]
    if missing:
        raise RawDataError(
            f"{file_name}: missing column(s) {missing}; found {list(table.columns)}"
        )
    if table.empty:
        raise RawDataError(f"{file_name}: the table is empty")
    return table


def split_location(location: pd.Series) -> pd.DataFrame:
    """City, state and country from ``"city, state, country"``.

    Robust to missing locations, to fewer or more than three parts (the first part is the city,
    the second the state, the LAST the country, so "city, county, state, country" keeps its
    country; with fewer than three parts the country is missing) and to parts that are empty or
    ``n/a``, which become missing.
    """
    parts = location.fillna("").astype(str).str.replace(r"[\r\n]+", " ", regex=True).str.split(",")

    def part(index: int) -> pd.Series:
        values = parts.str[index].str.strip()
        return values.where(~values.str.lower().isin(MISSING_LOCATION_PARTS))

    city, state = part(0), part(1)
    count = parts.str.len()
    country = parts.str[-1].str.strip().where(count >= 3)
    country = country.where(~country.str.lower().isin(MISSING_LOCATION_PARTS))
    return pd.DataFrame({"city": city, "state": state, "country": country}).astype("string")


def clean_ratings(
    users: pd.DataFrame, ratings: pd.DataFrame, books: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The article's cleaning: one row per explicit rating of a known book, with user fields.

    users LEFT JOIN ratings LEFT JOIN books; drop rows without a rating; missing Book-Author /
    Publisher -> "unknown"; drop rows without a title; Year-Of-Publication to numeric (coerce);
    Age > max_age -> missing; Year clipped to [0, max_year] and <= 0 -> missing; keep ratings > 0;
    city/state/country from Location; label = Book-Rating > positive_rating_threshold.

    Args:
        users: Raw Users table.
        ratings: Raw Ratings table.
        books: Raw Books table.
        params: ``max_age``, ``max_year``, ``positive_rating_threshold``.

    Returns:
        The cleaned table (columns ``CLEANED_COLUMNS``) and the number of rows each rule touched.

    Raises:
        RawDataError: A raw table misses a column or is empty.
    """
    for table, file_name in ((users, "Users.csv"), (ratings, "Ratings.csv"), (books, "Books.csv")):
        validate_raw_table(table, file_name)
    counts: dict[str, int] = {"users": len(users), "ratings": len(ratings), "books": len(books)}
    books = books.drop_duplicates("ISBN")
    merged = users.merge(ratings, on="User-ID", how="left").merge(books, on="ISBN", how="left")
    counts["joined_rows"] = len(merged)

    has_rating = merged["Book-Rating"].notna()
    counts["dropped_no_rating"] = int((~has_rating).sum())
    merged = merged[has_rating]

    for column in ("Book-Author", "Publisher"):
        counts[f"filled_unknown_{column}"] = int(merged[column].isna().sum())
    merged = merged.fillna({"Book-Author": "unknown", "Publisher": "unknown"})

    has_title = merged["Book-Title"].notna()
    counts["dropped_no_title"] = int((~has_title).sum())
    merged = merged[has_title]

    year = pd.to_numeric(merged["Year-Of-Publication"], errors="coerce")
    counts["year_not_numeric"] = int((year.isna() & merged["Year-Of-Publication"].notna()).sum())
    age = merged["Age"].astype("float64")
    counts["age_above_max"] = int((age > params["max_age"]).sum())
    age = age.where(~(age > params["max_age"]))
    counts["year_above_max"] = int((year > params["max_year"]).sum())
    year = year.clip(0, params["max_year"])
    counts["year_zero_or_less"] = int((year <= 0).sum())
    year = year.where(~(year <= 0))

    rating = merged["Book-Rating"].astype("int64")
    explicit = rating > 0
    counts["dropped_implicit_rating"] = int((~explicit).sum())

    location = split_location(merged["Location"])
    for column in location.columns:
        counts[f"missing_{column}"] = int(location.loc[explicit.to_numpy(), column].isna().sum())

    cleaned = pd.DataFrame(
        {
            "User-ID": merged["User-ID"].astype("int64"),
            "ISBN": merged["ISBN"].astype("str"),
            "Book-Rating": rating,
            "Book-Title": merged["Book-Title"].astype("str"),
            "Book-Author": merged["Book-Author"].astype("str"),
            "Year-Of-Publication": year.astype("float64"),
            "Publisher": merged["Publisher"].astype("str"),
            "Age": age,
            "city": location["city"].to_numpy(),
            "state": location["state"].to_numpy(),
            "country": location["country"].to_numpy(),
            "label": (rating > params["positive_rating_threshold"]).astype("int64"),
        }
    )[explicit.to_numpy()].reset_index(drop=True)

    counts["cleaned_rows"] = len(cleaned)
    counts["cleaned_users"] = int(cleaned["User-ID"].nunique())
    counts["cleaned_books"] = int(cleaned["ISBN"].nunique())
    for rule, count in counts.items():
        logger.info("cleaning: %-32s %d", rule, count)
    logger.info("cleaning: positive rate %.4f", cleaned["label"].mean() if len(cleaned) else np.nan)
    return cleaned, counts
