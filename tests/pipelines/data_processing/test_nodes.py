"""Every cleaning rule on small hand-made frames, with the real data's traps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from book_recs.pipelines.data_processing.nodes import (
    CLEANED_COLUMNS,
    RawDataError,
    clean_ratings,
    extract_implicit_interactions,
    split_location,
    validate_raw_table,
)

PARAMS = {"max_age": 100, "max_year": 2021, "positive_rating_threshold": 7}
CONTRACT_DTYPES = {
    "User-ID": "int64", "ISBN": "str", "Book-Rating": "int64", "Book-Title": "str",
    "Book-Author": "str", "Year-Of-Publication": "float64", "Publisher": "str", "Age": "float64",
    "city": "str", "state": "str", "country": "str", "label": "int64",
}


def str_frame(data: dict) -> pd.DataFrame:
    """A frame of strings with NaN for missing, as the raw CSVs load (``dtype: str``)."""
    return pd.DataFrame(data, dtype="str")


@pytest.fixture
def users() -> pd.DataFrame:
    return pd.DataFrame({
        "User-ID": [1, 2, 3, 4, 5, 6],
        "Location": ["lisbon, lisboa, portugal", "porto, n/a, portugal", "solo", None,
                     "leeds, west yorkshire, england, united kingdom", "cernusco s\r\n, milan, italy"],
        "Age": [30.0, 0.0, 244.0, np.nan, 100.0, 101.0],
    })


@pytest.fixture
def ratings() -> pd.DataFrame:
    return pd.DataFrame({
        "User-ID": [1, 1, 1, 1, 2, 2, 3, 5, 6],
        "ISBN": ["A", "B", "C", "D", "E", "F", "A", "X", "B"],
        "Book-Rating": [8, 7, 0, 10, 9, 5, 3, 6, 1],
    }).astype({"ISBN": "str"})


@pytest.fixture
def books() -> pd.DataFrame:
    # A: normal; B: year 0, no publisher; C: implicit-only; D: year 2050 and the author "None";
    # E: shifted row (year "DK Publishing Inc"); F: no title; X is not in Books at all.
    return str_frame({
        "ISBN": ["A", "B", "C", "D", "E", "F"],
        "Book-Title": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon\\Eric", None],
        "Book-Author": ["Ann", None, "Cid", "None", "2000", "Fay"],
        "Year-Of-Publication": ["1999", "0", "2001", "2050", "DK Publishing Inc", "1990"],
        "Publisher": ["Pub", None, "Pub", "Pub", "http://x", "Pub"],
    })


@pytest.fixture
def cleaned(users, ratings, books):
    return clean_ratings(users, ratings, books, PARAMS)


def row(table: pd.DataFrame, user: int, isbn: str) -> pd.Series:
    match = table[(table["User-ID"] == user) & (table["ISBN"] == isbn)]
    assert len(match) == 1
    return match.iloc[0]


def test_clean_ratings_keeps_explicit_ratings_of_titled_books_only(cleaned):
    table, summary = cleaned
    # users 1..6 give 9 ratings + user 4 without any; C is implicit, F has no title, X no book.
    assert sorted(zip(table["User-ID"], table["ISBN"])) == [
        (1, "A"), (1, "B"), (1, "D"), (2, "E"), (3, "A"), (6, "B")]
    assert summary["joined_rows"] == 10
    assert summary["dropped_no_rating"] == 1
    assert summary["dropped_no_title"] == 2
    assert summary["dropped_implicit_rating"] == 1
    assert summary["cleaned_rows"] == len(table) == 6
    assert summary["cleaned_users"] == 4
    assert summary["positive_rows"] == 3


def test_clean_ratings_output_follows_the_contract(cleaned):
    table, _ = cleaned
    assert list(table.columns) == CLEANED_COLUMNS
    assert {c: str(t) for c, t in table.dtypes.items()} == CONTRACT_DTYPES
    assert table.index.equals(pd.RangeIndex(len(table)))


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


@pytest.mark.parametrize(
    ("location", "expected"),
    [
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
    ],
)
def test_split_location(location, expected):
    parts = split_location(pd.Series([location], dtype="str")).iloc[0]
    assert tuple(None if pd.isna(v) else v for v in parts) == expected


def test_split_location_keeps_index_and_str_dtype():
    result = split_location(pd.Series(["a, b, c", None], index=[7, 3], dtype="str"))
    assert list(result.index) == [7, 3]
    assert all(str(t) == "str" for t in result.dtypes)


def test_parameters_drive_the_thresholds(users, ratings, books):
    table, _ = clean_ratings(users, ratings, books,
                             {"max_age": 25, "max_year": 1995, "positive_rating_threshold": 8})
    assert np.isnan(row(table, 1, "A")["Age"])  # 30 > 25
    assert row(table, 2, "E")["Age"] == 0.0
    assert row(table, 1, "A")["Year-Of-Publication"] == 1995.0  # 1999 clipped
    assert row(table, 1, "A")["label"] == 0 and row(table, 1, "D")["label"] == 1


@pytest.mark.parametrize(
    ("file_name", "table", "message"),
    [
        ("Users.csv", pd.DataFrame({"User-ID": [1], "Location": ["x"]}),
         "Users.csv: missing column 'Age'"),
        ("Ratings.csv", pd.DataFrame({"User-ID": [1]}),
         "Ratings.csv: missing columns 'ISBN', 'Book-Rating'"),
        ("Books.csv", pd.DataFrame(columns=["ISBN", "Book-Title", "Book-Author",
                                            "Year-Of-Publication", "Publisher"]),
         "Books.csv: table is empty"),
    ],
)
def test_validate_raw_table_names_the_file(file_name, table, message):
    with pytest.raises(RawDataError, match=message):
        validate_raw_table(table, file_name)


def test_clean_ratings_stops_on_a_bad_table(users, ratings, books):
    with pytest.raises(RawDataError, match="Users.csv: missing column 'Age'"):
        clean_ratings(users.drop(columns="Age"), ratings, books, PARAMS)
    with pytest.raises(RawDataError, match="Ratings.csv: table is empty"):
        clean_ratings(users, ratings.iloc[:0], books, PARAMS)


def test_implicit_interactions_are_the_rating_0_rows_of_titled_books(ratings, books):
    more = pd.concat([ratings, pd.DataFrame({"User-ID": [2, 4, 4], "ISBN": ["B", "F", "X"],
                                             "Book-Rating": [0, 0, 0]})], ignore_index=True)
    implicit = extract_implicit_interactions(more, books)
    # F has no title and X is not in Books: dropped; B's missing author and publisher: "unknown".
    assert implicit.to_dict("list") == {"User-ID": [1, 2], "ISBN": ["C", "B"],
                                        "Book-Title": ["Gamma", "Beta"],
                                        "Book-Author": ["Cid", "unknown"],
                                        "Publisher": ["Pub", "unknown"]}
    assert implicit["User-ID"].dtype == "int64"


def test_implicit_interactions_stop_on_a_bad_table(ratings, books):
    with pytest.raises(RawDataError, match="Books.csv: missing column 'Book-Title'"):
        extract_implicit_interactions(ratings, books.drop(columns="Book-Title"))
