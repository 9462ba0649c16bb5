"""The database where Optuna keeps its studies, declared in the catalog like any other connection.

A search writes each trial to its study's storage as the trial finishes, and a rerun resumes the
study from there. That is the storage's whole point, so the tuning nodes take the storage itself
as an input (a live ``optuna.storages.RDBStorage``) and never return it: the catalog and the
environment decide where the studies live, and the nodes hold no path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import optuna
from kedro.io import AbstractDataset, DatasetError
from sqlalchemy.engine import make_url


class OptunaStorageDataset(AbstractDataset[optuna.storages.BaseStorage, NoReturn]):
    """Load-only: an Optuna storage on a SQLAlchemy database URL.

    Args:
        url: Any database URL Optuna takes (``sqlite:///path/to/file.db``, ``postgresql://...``).
            A SQLite file's folder is created on load.
        metadata: Ignored by Kedro (kedro-viz reads its ``layer``).

    Example catalog entry::

        optuna_storage:
          type: book_recs.datasets.OptunaStorageDataset
          url: sqlite:///${globals:data_dir}/06_models/tuning.db
    """

    def __init__(self, *, url: str, metadata: dict[str, Any] | None = None) -> None:
        self._url = url
        self.metadata = metadata

    def load(self) -> optuna.storages.RDBStorage:
        database = make_url(self._url)
        if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
            Path(database.database).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(self._url)

    def save(self, data: Any) -> NoReturn:
        raise DatasetError("an Optuna storage is read-only in the catalog: Optuna writes each "
                           "trial to it as the trial finishes")

    def _describe(self) -> dict[str, Any]:
        return {"url": make_url(self._url).render_as_string(hide_password=True)}
