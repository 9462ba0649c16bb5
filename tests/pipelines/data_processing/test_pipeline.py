"""The data stages as Kedro pipelines through the project's catalog: raw files with the real traps
read by the ``*_raw`` entries, every output written under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError
from kedro.runner import SequentialRunner

from book_recs.datasets.raw_csv import PARSE_ERROR_COLUMN, ROW_COLUMN
from book_recs.pipelines.data_processing import create_pipeline as data_processing
from book_recs.pipelines.data_processing.nodes import CLEANED_COLUMNS
from book_recs.pipelines.data_split import create_pipeline as data_split

from ..project_catalog import project_catalog

PARAMS = {
    "data_processing": {"max_age": 100, "max_year": 2021, "positive_rating_threshold": 7},
    "data_split": {"seed": 2021, "shares": {"train": 0.4, "valid": 0.3, "test": 0.3}},
}
# The traps of the real files, in their format: CRLF, a quoted line break, the author "None",
# an ISBN with a leading zero, a shifted row, an empty Age.
RAW_FILES = {
    "Users": 'User-ID,Location,Age\r\n1,"cernusco s\r\n, milan, italy",30\r\n'
             '2,"porto, n/a, portugal",\r\n3,"leeds, yorkshire, england, uk",244\r\n',
    "Ratings": "User-ID,ISBN,Book-Rating\r\n1,0195153448,8\r\n1,078946697X,5\r\n"
               "2,0195153448,0\r\n2,2070426769,9\r\n3,0195153448,10\r\n3,0000000000,6\r\n",
    "Books": "ISBN,Book-Title,Book-Author,Year-Of-Publication,Publisher,Image-URL-S\r\n"
             "0195153448,Classical Mythology,None,2002,Oxford University Press,http://s\r\n"
             '078946697X,"DK Readers: Creating the X-Men, How It All Began",2000,'
             "DK Publishing Inc,http://m,http://l\r\n"
             "2070426769,Peuple du ciel,J. M. G. Le Clezio,0,Gallimard,http://s\r\n",
}


def write_raw_files(folder: Path, files: dict[str, str]) -> None:
    (folder / "01_raw").mkdir(parents=True)
    for stem, text in files.items():
        (folder / "01_raw" / f"{stem}.csv").write_bytes(text.encode("utf-8"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> DataCatalog:
    """The project's catalog after both pipelines ran on the raw files (one run)."""
    folder = tmp_path_factory.mktemp("data_stages")
    write_raw_files(folder, RAW_FILES)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("BOOK_CROSSING_DIR", raising=False)
        catalog = project_catalog(folder, PARAMS)
    SequentialRunner().run(data_processing() + data_split(), catalog)
    return catalog


def test_raw_entries_survive_the_traps(catalog):
    users, ratings, books = (catalog.load(f"{table}_raw").execute().sort_values(ROW_COLUMN)
                             .reset_index(drop=True) for table in ("users", "ratings", "books"))
    assert not any(table[PARSE_ERROR_COLUMN].notna().any() for table in (users, ratings, books))
    assert [len(users), len(ratings), len(books)] == [3, 6, 3]
    assert users.loc[0, "Location"].startswith("cernusco s\r\n")
    assert pd.isna(users.loc[1, "Age"])
    assert books.loc[0, "Book-Author"] == "None"
    assert books.loc[0, "ISBN"] == "0195153448"
    assert books.loc[1, "Year-Of-Publication"] == "DK Publishing Inc"
    assert ratings["ISBN"].tolist()[-1] == "0000000000"


def test_cleaned_ratings_keep_the_traps_right(catalog):
    cleaned = catalog.load("cleaned_ratings@pandas")
    assert list(cleaned.columns) == CLEANED_COLUMNS
    assert list(zip(cleaned["User-ID"], cleaned["ISBN"], strict=True)) == [
        (1, "0195153448"), (1, "078946697X"), (2, "2070426769"), (3, "0195153448")]
    assert cleaned["row_order"].is_monotonic_increasing
    by_key = cleaned.set_index(["User-ID", "ISBN"])
    assert by_key.loc[(1, "0195153448"), "Book-Author"] == "None"
    assert by_key.loc[(1, "0195153448"), "city"] == "cernusco s"
    assert pd.isna(by_key.loc[(1, "078946697X"), "Year-Of-Publication"])  # shifted row
    assert pd.isna(by_key.loc[(2, "2070426769"), "Year-Of-Publication"])  # year 0
    assert pd.isna(by_key.loc[(2, "2070426769"), "Age"])  # empty
    assert by_key.loc[(3, "0195153448"), "country"] == "england"
    assert pd.isna(by_key.loc[(3, "0195153448"), "Age"])  # 244
    summary = catalog.load("cleaning_summary")
    assert summary["cleaned_rows"] == 4 and summary["year_not_numeric"] == 1
    assert summary["users_rejected_rows"] == summary["ratings_rejected_rows"] == 0
    # User 2 holds 0195153448 unrated; 0000000000 is in no Books row.
    implicit = catalog.load("implicit_interactions@ibis").execute()
    assert implicit[["User-ID", "ISBN"]].values.tolist() == [[2, "0195153448"]]


def test_the_split_puts_each_user_in_one_split_with_the_parameters_shares(catalog):
    cleaned = catalog.load("cleaned_ratings@pandas")
    user_splits = catalog.load("user_splits@pandas")
    # 3 users at 0.4 / 0.3 / 0.3: one each.
    assert user_splits["split"].value_counts().to_dict() == {"train": 1, "valid": 1, "test": 1}
    splits = {split: catalog.load(f"{split}_ratings@pandas") for split in ("train", "valid", "test")}
    users = {split: set(rows["User-ID"]) for split, rows in splits.items()}
    assert users == {split: set(user_splits.loc[user_splits["split"] == split, "User-ID"])
                     for split in splits}
    assert sum(len(rows) for rows in splits.values()) == len(cleaned)
    for rows in splits.values():
        assert list(rows.columns) == list(cleaned.columns)
        assert rows["row_order"].is_monotonic_increasing
    pd.testing.assert_frame_equal(
        pd.concat(splits.values()).sort_values("row_order").reset_index(drop=True), cleaned)


def test_bad_raw_file_stops_the_run_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("BOOK_CROSSING_DIR", raising=False)
    write_raw_files(tmp_path, {**RAW_FILES, "Users": "User-ID,Location\r\n1,nowhere\r\n"})
    with pytest.raises(DatasetError, match="Users.csv: missing column 'Age'"):
        SequentialRunner().run(data_processing(), project_catalog(tmp_path, PARAMS))
