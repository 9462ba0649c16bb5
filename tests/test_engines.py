"""One code path, two engines: the data stages on PySpark (``--env spark``, ``local[2]``, started by
the suite, see conftest.py) give the same cleaned, split and model-input tables as on DuckDB (the
shared sample run), from the same raw files and title cache."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow
TABLES = ["03_primary/cleaned_ratings", "03_primary/implicit_interactions",
          *[f"03_primary/{split}_ratings" for split in ("train", "valid", "test")],
          "04_feature/item_statistics", "04_feature/vocabularies",
          *[f"05_model_input/model_input_{split}" for split in ("train", "valid", "test")]]


def read(folder: Path, table: str) -> pd.DataFrame:
    """A table as written by either engine (DuckDB: one file; Spark: a folder of parts)."""
    return pd.read_parquet(folder / f"{table}.parquet")


@pytest.mark.parametrize("table", TABLES)
def test_spark_and_duckdb_write_the_same_table(sample_run, spark_run, table):
    duckdb = read(sample_run / "data", table)
    spark = read(spark_run / "data" / "spark", table)
    if table.startswith("04_feature"):  # no row order is promised for the fitted tables
        duckdb, spark = (frame.sort_values(list(frame.columns)).reset_index(drop=True)
                         for frame in (duckdb, spark))
    assert list(spark.columns) == list(duckdb.columns)
    assert len(spark) == len(duckdb) > 0
    for column in duckdb.columns:
        if duckdb[column].dtype.kind == "f" or isinstance(duckdb[column].iloc[0], Decimal):
            # Sums of floating-point numbers may differ in the last bits between engines.
            np.testing.assert_allclose(spark[column].astype(float), duckdb[column].astype(float),
                                       rtol=1e-6, atol=1e-7, err_msg=column)
        else:
            pd.testing.assert_series_equal(spark[column], duckdb[column], check_dtype=False,
                                           obj=column)
