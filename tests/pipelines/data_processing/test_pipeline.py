"""The data stages as Kedro pipelines, and the raw catalog entries against the real traps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset

from book_recs.pipelines.data_processing import create_pipeline as data_processing
from book_recs.pipelines.data_split import create_pipeline as data_split
from book_recs.settings import CONFIG_LOADER_ARGS

PROJECT_PATH = Path(__file__).resolve().parents[3]
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


@pytest.fixture
def raw_catalog(tmp_path) -> DataCatalog:
    """The project's raw catalog entries, pointed at small files with the traps."""
    entries = OmegaConfigLoader(str(PROJECT_PATH / "conf"), **CONFIG_LOADER_ARGS)["catalog"]
    config = {}
    for stem, text in RAW_FILES.items():
        path = tmp_path / f"{stem}.csv"
        path.write_bytes(text.encode("utf-8"))
        config[f"{stem.lower()}_raw"] = {**entries[f"{stem.lower()}_raw"], "filepath": str(path)}
    return DataCatalog.from_config(config)


def run(pipeline, catalog: DataCatalog) -> DataCatalog:
    """Run a pipeline with parameters and outputs in memory; return the catalog to read from."""
    for name in pipeline.datasets():
        if name.startswith("params:"):
            catalog[name] = MemoryDataset(PARAMS[name.removeprefix("params:")])
        elif name not in catalog:
            catalog[name] = MemoryDataset()
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_raw_entries_survive_the_traps(raw_catalog):
    users, books = raw_catalog.load("users_raw"), raw_catalog.load("books_raw")
    assert users.loc[0, "Location"].startswith("cernusco s\r\n")
    assert pd.isna(users.loc[1, "Age"]) and users["Age"].dtype == "float64"
    assert books.loc[0, "Book-Author"] == "None"
    assert books.loc[0, "ISBN"] == "0195153448"
    assert books.loc[1, "Year-Of-Publication"] == "DK Publishing Inc"
    assert raw_catalog.load("ratings_raw")["ISBN"].tolist()[-1] == "0000000000"


def test_both_pipelines_end_to_end(raw_catalog):
    # One pipeline after the other: a run releases the MemoryDatasets it consumed.
    catalog = run(data_processing(), raw_catalog)
    cleaned = catalog.load("cleaned_ratings")
    assert sorted(zip(cleaned["User-ID"], cleaned["ISBN"])) == [
        (1, "0195153448"), (1, "078946697X"), (2, "2070426769"), (3, "0195153448")]
    by_key = cleaned.set_index(["User-ID", "ISBN"])
    assert by_key.loc[(1, "0195153448"), "Book-Author"] == "None"
    assert by_key.loc[(1, "0195153448"), "city"] == "cernusco s"
    assert pd.isna(by_key.loc[(1, "078946697X"), "Year-Of-Publication"])  # shifted row
    assert pd.isna(by_key.loc[(2, "2070426769"), "Year-Of-Publication"])  # year 0
    assert by_key.loc[(3, "0195153448"), "country"] == "england"
    assert pd.isna(by_key.loc[(3, "0195153448"), "Age"])  # 244
    summary = catalog.load("cleaning_summary")
    assert summary["cleaned_rows"] == 4 and summary["year_not_numeric"] == 1

    run(data_split(), catalog)
    splits = [catalog.load(f"{split}_ratings") for split in ("train", "valid", "test")]
    assert pd.concat(splits)["User-ID"].value_counts().sort_index().tolist() == [2, 1, 1]
    assert [part["User-ID"].nunique() for part in splits] == [1, 1, 1]
    assert all(list(part.columns) == list(cleaned.columns) for part in splits)


def test_bad_raw_table_stops_the_run_naming_the_file(raw_catalog):
    raw_catalog["users_raw"] = MemoryDataset(raw_catalog.load("users_raw").drop(columns="Age"))
    with pytest.raises(Exception, match="Users.csv: missing column 'Age'"):
        run(data_processing(), raw_catalog)


def test_unreadable_raw_file_fails_naming_its_path(tmp_path):
    missing = tmp_path / "Books.csv.gz"
    with pytest.raises(DatasetError, match="Books.csv.gz"):
        CSVDataset(filepath=str(missing)).load()
