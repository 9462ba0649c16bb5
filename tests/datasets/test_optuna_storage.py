"""OptunaStorageDataset: a live storage whose studies outlive the process that wrote them."""

from __future__ import annotations

import optuna
import pytest
from kedro.io import DataCatalog, DatasetError

from book_recs.datasets import OptunaStorageDataset


def test_load_creates_the_folder_and_studies_persist_across_loads(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'tuning.db'}"
    catalog = DataCatalog.from_config({
        "optuna_storage": {"type": "book_recs.datasets.OptunaStorageDataset", "url": url}})
    study = optuna.create_study(study_name="s", storage=catalog.load("optuna_storage"))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    assert (tmp_path / "nested" / "tuning.db").exists()
    resumed = optuna.load_study(study_name="s", storage=catalog.load("optuna_storage"))
    assert len(resumed.trials) == 2


def test_save_is_refused_and_the_description_hides_a_password(tmp_path):
    with pytest.raises(DatasetError, match="read-only"):
        OptunaStorageDataset(url=f"sqlite:///{tmp_path / 'tuning.db'}").save(object())
    server = OptunaStorageDataset(url="postgresql://me:secret@host/optuna")
    assert "secret" not in str(server) and "host/optuna" in str(server)
