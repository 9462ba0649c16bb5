"""The project's own catalog (conf/base) pointed at a test folder, for pipeline tests."""

from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset

from book_recs.settings import CONFIG_LOADER_ARGS

PROJECT_PATH = Path(__file__).resolve().parents[2]


def project_configuration() -> OmegaConfigLoader:
    """conf/base as the project loads it (its resolvers and merge strategy)."""
    return OmegaConfigLoader(str(PROJECT_PATH / "conf"), **CONFIG_LOADER_ARGS)


def project_catalog(folder: Path, params: dict[str, dict]) -> DataCatalog:
    """The project's catalog entries, reading raw files from ``folder/01_raw`` and writing every
    output (and the title cache) under ``folder``; ``params`` as ``params:<name>`` datasets.

    ``BOOK_CROSSING_DIR`` must be unset (it would redirect the raw entries).
    """
    loader = project_configuration()
    loader["globals"] = {**loader["globals"], "raw_data_dir": str(folder / "01_raw"),
                         "data_dir": str(folder / "data"),
                         "title_embedding_cache": str(folder / "title_embeddings.parquet")}
    catalog = DataCatalog.from_config(loader["catalog"])
    for name, value in params.items():
        catalog[f"params:{name}"] = MemoryDataset(value)
    return catalog
