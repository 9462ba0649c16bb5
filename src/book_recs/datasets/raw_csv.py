"""Raw Book-Crossing CSV files as Ibis tables, on whichever engine the catalog connects to.

Two layouts of the same data circulate, and users get either:

- ``kaggle``: the Kaggle "Book Recommendation Dataset" (``Users.csv``, ``Ratings.csv``,
  ``Books.csv``): comma-separated, UTF-8, an empty field is missing, ``""`` escapes a quote;
- ``bx_dump``: the original 2004 "BX-CSV-Dump" (``BX-Users.csv``, ``BX-Book-Ratings.csv``,
  ``BX-Books.csv``): semicolon-separated, ISO-8859-1, ``NULL`` is missing, ``\\"`` escapes a quote.

``raw_format: auto`` tells them apart by the header line's delimiter. Every column is read as text
(the validation node decides what a value means), with two extra columns: ``_row``, which orders the
rows as the file does, and ``_parse_error``, set on the rows the CSV reader could not parse (kept,
so they are counted, never dropped silently). A file that cannot be read at all stops the run with
a ``RawDataError`` that names the file and the fault. The file itself is only ever read.

Engines: DuckDB (its CSV reader keeps rejected rows with ``store_rejects``) and PySpark (its
``PERMISSIVE`` mode keeps malformed rows in a corrupt-record column).
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar

import fsspec
import ibis
import ibis.expr.types as ir
from kedro_datasets.ibis import FileDataset

ROW_COLUMN = "_row"
PARSE_ERROR_COLUMN = "_parse_error"
REQUIRED_COLUMNS = {
    "users": ("User-ID", "Location", "Age"),
    "ratings": ("User-ID", "ISBN", "Book-Rating"),
    "books": ("ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"),
}
# File names of each table in each layout, in the order they are looked for.
FILE_STEMS = {
    "users": ("Users", "BX-Users"),
    "ratings": ("Ratings", "BX-Book-Ratings"),
    "books": ("Books", "BX-Books"),
}


class RawDataError(ValueError):
    """A raw file cannot be used: the message names the file and what is wrong."""


@dataclass(frozen=True)
class CsvDialect:
    """How one layout writes its CSV files."""

    delimiter: str
    encoding: str
    null: str
    escape: str


RAW_FORMATS = {
    "kaggle": CsvDialect(delimiter=",", encoding="utf-8", null="", escape='"'),
    "bx_dump": CsvDialect(delimiter=";", encoding="latin-1", null="NULL", escape="\\"),
}


def find_raw_file(folder: str, table: str) -> str:
    """Path of ``table``'s file in ``folder``: the Kaggle or the BX-CSV-Dump name, ``.csv.gz`` or
    ``.csv``, whichever exists; the Kaggle ``.csv.gz`` name when none does (loading it then fails
    naming the file).

    The path keeps ``folder`` as given: a relative folder stays relative, so Kedro anchors it at
    the project root, wherever the process runs (a notebook runs in ``notebooks/``).

    >>> find_raw_file("/nowhere", "ratings"), find_raw_file("data/none", "users")
    ('/nowhere/Ratings.csv.gz', 'data/none/Users.csv.gz')
    """
    fs = fsspec.core.url_to_fs(folder)[0]
    paths = [f"{folder.rstrip('/')}/{stem}{suffix}"
             for stem, suffix in itertools.product(FILE_STEMS[table], (".csv.gz", ".csv"))]
    return next((path for path in paths if fs.exists(path)), paths[0])


def _first_line(path: str) -> bytes:
    """The header line's bytes (gzip decompressed), without the line ending."""
    name = PurePosixPath(path).name
    try:
        with fsspec.open(path, "rb", compression="infer") as handle:
            line = handle.readline(1 << 16)
    except FileNotFoundError:
        raise RawDataError(f"{name}: file not found ({path})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as error:
        raise RawDataError(f"{name}: not a readable gzip file ({error})") from None
    if not line.strip():
        raise RawDataError(f"{name}: the file is empty (no header line)")
    return line.rstrip(b"\r\n")


def detect_format(header: bytes) -> str:
    """``bx_dump`` when the header is semicolon-separated, else ``kaggle``.

    >>> detect_format(b'"User-ID";"ISBN";"Book-Rating"'), detect_format(b"User-ID,ISBN,Book-Rating")
    ('bx_dump', 'kaggle')
    """
    return "bx_dump" if header.count(b";") > header.count(b",") else "kaggle"


def read_header(path: str, table: str, raw_format: str) -> tuple[str, list[str]]:
    """The layout and the column names of a raw file, checked before the engine reads it.

    Raises:
        RawDataError: The file is missing, not valid gzip, binary, in an encoding the layout does
            not use, or lacks a required column; the message names the file.
    """
    name = PurePosixPath(path).name
    header = _first_line(path)
    if b"\x00" in header:
        raise RawDataError(f"{name}: not a text CSV file in UTF-8 or ISO-8859-1 (NUL bytes in the "
                           "header: binary data, or an encoding such as UTF-16)")
    if raw_format == "auto":
        raw_format = detect_format(header)
    if raw_format not in RAW_FORMATS:
        raise RawDataError(f"{name}: raw_format must be auto, {' or '.join(RAW_FORMATS)}; "
                           f"got {raw_format!r}")
    dialect = RAW_FORMATS[raw_format]
    try:
        text = header.decode(dialect.encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise RawDataError(f"{name}: the header is not {dialect.encoding} ({error.reason} at "
                           f"byte {error.start}); expected the {raw_format} layout") from None
    columns = [column.strip().strip('"') for column in text.split(dialect.delimiter)]
    missing = [column for column in REQUIRED_COLUMNS[table] if column not in columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise RawDataError(f"{name}: missing {noun} {', '.join(map(repr, missing))} "
                           f"(found {columns}; read as the {raw_format} layout)")
    return raw_format, columns


class RawCSVDataset(FileDataset):
    """A raw Book-Crossing file as an Ibis table of text columns plus ``_row`` and ``_parse_error``.

    Args:
        filepath: The file (see ``find_raw_file``; the catalog resolves the folder's file name).
        table: ``users``, ``ratings`` or ``books``: which columns are required.
        raw_format: ``auto`` (from the header), ``kaggle`` or ``bx_dump``.
        connection: The Ibis backend, as ``ibis.FileDataset`` takes it (``duckdb`` or ``pyspark``).
        metadata: Passed through (kedro-viz).

    Example catalog entry::

        ratings_raw:
          type: book_recs.datasets.RawCSVDataset
          filepath: ${raw_file:${globals:raw_data_dir},ratings}
          table: ratings
          raw_format: ${globals:raw_format}
          connection: ${globals:ibis_connection}
    """

    _READERS: ClassVar[dict[str, str]] = {"duckdb": "_read_duckdb", "pyspark": "_read_spark"}

    def __init__(self, *, filepath: str, table: str, raw_format: str = "auto",
                 connection: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        if table not in REQUIRED_COLUMNS:
            raise ValueError(f"table must be one of {sorted(REQUIRED_COLUMNS)}, got {table!r}")
        super().__init__(filepath=filepath, file_format="csv", table_name=f"{table}_raw",
                         connection=connection, metadata=metadata)
        self._table = table
        self._raw_format = raw_format
        self._path = filepath

    def load(self) -> ir.Table:
        raw_format, columns = read_header(self._path, self._table, self._raw_format)
        backend = self._connection_config["backend"]
        if backend not in self._READERS:
            raise RawDataError(f"raw files are read by {sorted(self._READERS)}, not {backend!r}")
        name = PurePosixPath(self._path).name
        try:
            table = getattr(self, self._READERS[backend])(RAW_FORMATS[raw_format], columns)
        except RawDataError:
            raise
        except Exception as error:  # the engine's own error: keep its first line, name the file
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise RawDataError(f"{name}: cannot be read as the {raw_format} layout ({reason})") from None
        if table.filter(table[PARSE_ERROR_COLUMN].isnull()).count().execute() == 0:
            raise RawDataError(f"{name}: no data rows could be read (the table is empty)")
        return table

    def save(self, data: ir.Table) -> None:
        raise RawDataError(f"{self._path}: raw files are read-only")

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "table": self._table, "raw_format": self._raw_format}

    def _read_duckdb(self, dialect: CsvDialect, columns: list[str]) -> ir.Table:
        """Materialise the file once (so its rejects are known), parsed rows then rejected ones."""
        con = self.connection
        name, rejects = self._table_name, f"{self._table_name}_rejects"
        text_columns = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
        for table in (rejects, f"{rejects}_scans"):  # a reload starts from no rejects
            con.raw_sql(f'DROP TABLE IF EXISTS "{table}"')
        con.raw_sql(f"""
            CREATE OR REPLACE TEMP TABLE "{name}" AS
            SELECT row_number() OVER () - 1 AS {ROW_COLUMN}, *, NULL::VARCHAR AS {PARSE_ERROR_COLUMN}
            FROM read_csv(?, delim = ?, quote = '"', escape = ?, encoding = ?, nullstr = ?,
                          header = true, columns = {{{text_columns}}}, auto_detect = false,
                          store_rejects = true, rejects_table = '{rejects}',
                          rejects_scan = '{rejects}_scans')
            """, parameters=[self._path, dialect.delimiter, dialect.escape, dialect.encoding,
                             dialect.null])
        parsed = con.table(name)
        errors = con.table(rejects)
        rejected = errors.select(
            **{ROW_COLUMN: ibis.null("int64")},
            **{c: ibis.null("string") for c in columns},
            **{PARSE_ERROR_COLUMN: "line " + errors.line.cast("string") + ": "
               + errors.error_message})
        return parsed.union(rejected)

    def _read_spark(self, dialect: CsvDialect, columns: list[str]) -> ir.Table:
        """Spark's PERMISSIVE mode: a malformed row keeps its text in the corrupt-record column."""
        from pyspark.sql import functions
        from pyspark.sql.types import StringType, StructField, StructType

        session = self.connection._session
        corrupt = "_corrupt_record"
        schema = StructType([StructField(c, StringType()) for c in [*columns, corrupt]])
        frame = (session.read.schema(schema)
                 .options(header=True, sep=dialect.delimiter, encoding=dialect.encoding,
                          nullValue=dialect.null, escape=dialect.escape, quote='"',
                          multiLine=True, mode="PERMISSIVE", columnNameOfCorruptRecord=corrupt,
                          enforceSchema=True)
                 .csv(self._path))
        # Ids increase in file order (one task per gzip file, tasks in split order).
        frame = frame.withColumn(ROW_COLUMN, functions.monotonically_increasing_id())
        frame = frame.withColumn(PARSE_ERROR_COLUMN, functions.when(
            functions.col(corrupt).isNotNull(),
            functions.concat(functions.lit("malformed row: "), functions.col(corrupt))))
        frame = frame.drop(corrupt).cache()
        frame.createOrReplaceTempView(self._table_name)
        return self.connection.table(self._table_name)
