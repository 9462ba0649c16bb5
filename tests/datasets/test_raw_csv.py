"""Raw files as users get them: both layouts, the original dump's slice, rejected rows kept and
counted, and every unreadable file stopping with one line that names it."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from kedro.io import DatasetError

from book_recs import cli as project_cli
from book_recs.datasets.raw_csv import (
    PARSE_ERROR_COLUMN,
    RawCSVDataset,
    RawDataError,
    find_raw_file,
    read_header,
)

DUMP_SLICE = Path(__file__).resolve().parents[1] / "data" / "bx_dump"
DUCKDB = {"backend": "duckdb", "database": ":memory:"}
USERS = 'User-ID,Location,Age\r\n1,"nyc, new york, usa",\r\n2,"stockton, california, usa",18.0\r\n'
MANY_USERS = "User-ID,Location,Age\r\n" + "".join(
    f'{i},"town {i * 7919 % 10007}, state {i % 97}, country",{i % 90}\r\n' for i in range(20000))
TRUNCATED = gzip.compress(MANY_USERS.encode())
TRUNCATED = TRUNCATED[:len(TRUNCATED) // 2]


def load(path: Path, table: str = "users", raw_format: str = "auto"):
    dataset = RawCSVDataset(filepath=str(path), table=table, raw_format=raw_format,
                            connection=DUCKDB)
    return dataset.load().execute().sort_values("_row", na_position="last").reset_index(drop=True)


def test_the_kaggle_layout_reads_as_text_in_file_order(tmp_path):
    path = tmp_path / "Users.csv.gz"
    path.write_bytes(gzip.compress(USERS.encode()))
    frame = load(path)
    assert frame["User-ID"].tolist() == ["1", "2"]
    assert frame["Location"].tolist() == ["nyc, new york, usa", "stockton, california, usa"]
    assert frame["Age"].isna().tolist() == [True, False]
    assert frame["_row"].tolist() == [0, 1] and frame[PARSE_ERROR_COLUMN].isna().all()


def test_the_original_dump_is_detected_and_read():
    assert find_raw_file(str(DUMP_SLICE), "ratings").endswith("BX-Book-Ratings.csv")
    assert read_header(find_raw_file(str(DUMP_SLICE), "books"), "books", "auto")[0] == "bx_dump"
    books = load(DUMP_SLICE / "BX-Books.csv", "books")
    users = load(DUMP_SLICE / "BX-Users.csv", "users")
    # Backslash-escaped quotes, ISO-8859-1 text and NULL ages, as the 2004 dump writes them.
    assert books[PARSE_ERROR_COLUMN].isna().all() and len(books) == 129
    assert 'My "Star Trek" Memories' in set(books["Book-Title"])
    assert not books["Book-Title"].str.contains("\\\\", regex=False).any()
    assert users["Age"].isna().sum() == 1 and users["Age"].notna().sum() == 7
    assert any(ord(ch) > 127 for text in users["Location"] for ch in text)


def test_a_row_the_reader_cannot_parse_is_kept_and_marked(tmp_path):
    path = tmp_path / "Users.csv"
    path.write_text(USERS + '3,"paris, france",30,unexpected\r\n4,"lyon, france",41\r\n')
    frame = load(path)
    assert frame["User-ID"].tolist()[:3] == ["1", "2", "4"]
    rejected = frame[frame[PARSE_ERROR_COLUMN].notna()]
    assert len(rejected) == 1 and "line 4" in rejected[PARSE_ERROR_COLUMN].iloc[0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("Users.csv.gz", None, "Users.csv.gz: file not found"),
        ("Users.csv.gz", USERS.encode(), "Users.csv.gz: not a readable gzip file"),
        ("Users.csv.gz", TRUNCATED,
         "Users.csv.gz: cannot be read as the kaggle layout .*GZIP"),
        ("Users.csv", bytes(range(256)) * 8, "Users.csv: not a text CSV file"),
        ("Users.csv", USERS.encode("utf-16"), "Users.csv: not a text CSV file"),
        ("Users.csv", b"User-ID,Location,\xe2ge\r\n1,x,3\r\n", "Users.csv: the header is not utf-8"),
        ("Users.csv", b"User-ID,Location\r\n1,x\r\n", "Users.csv: missing column 'Age'"),
        ("Users.csv", b"User-ID,Location,Age\r\n", "Users.csv: no data rows"),
        ("Users.csv", b"", "Users.csv: the file is empty"),
    ],
)
def test_an_unreadable_file_stops_with_a_message_naming_it(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError) as failure:  # Kedro wraps a dataset's error in its own
        load(path)
    assert re.match(message, str(project_cli.raw_data_error(failure.value)))


def test_raw_files_are_never_written(tmp_path):
    path = tmp_path / "Users.csv"
    path.write_text(USERS)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    dataset = RawCSVDataset(filepath=str(path), table="users", connection=DUCKDB)
    dataset.load()
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save(dataset.load())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_kedro_run_ends_with_one_line_naming_the_file(monkeypatch):
    def failing_run(**kwargs):
        try:
            raise RawDataError("Users.csv.gz: not a readable gzip file (bad magic)")
        except RawDataError as error:
            raise DatasetError("Failed while loading data from dataset users_raw") from error

    monkeypatch.setattr(project_cli.kedro_run, "callback", failing_run)
    result = CliRunner().invoke(project_cli.cli, ["run"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: Users.csv.gz: not a readable gzip file (bad magic)")


def test_other_errors_are_left_to_kedro(monkeypatch):
    monkeypatch.setattr(project_cli.kedro_run, "callback",
                        lambda **kwargs: (_ for _ in ()).throw(ValueError("a bug")))
    result = CliRunner().invoke(project_cli.cli, ["run"])
    assert isinstance(result.exception, ValueError) and not isinstance(result.exception,
                                                                       click.ClickException)
