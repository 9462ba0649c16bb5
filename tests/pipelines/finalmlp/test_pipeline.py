"""The finalmlp pipeline (FinalMLP and its DualMLP ablation) end to end on an in-memory catalog."""

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from book_recs.pipelines.finalmlp import create_pipeline
from book_recs.pipelines.finalmlp.nodes import valid_user_aucs
from tests.models.conftest import SMALL_MODEL, SPECS, make_frame

TRAINING = {"seed": 1, "batch_size": 64, "epochs": 2, "progress_bar": False}


@pytest.fixture(scope="module")
def catalog() -> DataCatalog:
    catalog = DataCatalog()
    for split, seed in (("train", 1), ("valid", 2), ("test", 3)):
        catalog[f"model_input_{split}@pandas"] = make_frame(200, seed)
    # The node takes a table or a lazy parquet reader (what the project catalog gives it).
    catalog["model_input_train@batches"] = catalog.load("model_input_train@pandas")
    catalog["feature_specs"] = SPECS
    catalog["params:finalmlp.model"] = SMALL_MODEL
    catalog["params:dualmlp.model"] = {**SMALL_MODEL, "use_gating": False, "fusion": "additive"}
    catalog["params:finalmlp.training"] = {**TRAINING, "ensemble_size": 2}
    catalog["params:dualmlp.training"] = TRAINING
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def test_both_models_share_the_inputs_and_read_their_own_parameters():
    pipeline = create_pipeline()
    assert pipeline.inputs() == {
        "model_input_train@batches", "model_input_valid@pandas", "model_input_test@pandas",
        "feature_specs",
        "params:finalmlp.model", "params:finalmlp.training",
        "params:dualmlp.model", "params:dualmlp.training"}
    assert {n.namespace for n in pipeline.nodes} == {"finalmlp", "dualmlp"}


@pytest.mark.parametrize("name", ["finalmlp", "dualmlp"])
def test_scores_keep_the_rows_and_give_probabilities(catalog, name):
    for split in ("valid", "test"):
        scores = catalog.load(f"{name}.scores_{split}")
        model_input = catalog.load(f"model_input_{split}@pandas")
        assert list(scores.columns) == ["User-ID", "ISBN", "Book-Rating", "label", "score", "probability"]
        pd.testing.assert_frame_equal(scores.iloc[:, :4], model_input[scores.columns[:4]])
        assert scores["probability"].between(0, 1).all()


def test_history_logs_fuxictrs_gauc_and_avgauc(catalog):
    history = catalog.load("dualmlp.training_history")
    assert history[["valid_gauc", "valid_avgauc"]].stack().between(0, 1).all()
    assert not history["valid_gauc"].equals(history["valid_avgauc"])  # weighted by rows, or not


def test_valid_user_aucs_weight_users_by_rows_or_not():
    users = np.array([1, 1, 1, 1, 2, 2, 3])
    labels = np.array([1, 0, 1, 0, 1, 0, 1])  # user 3 has one class: not counted
    scores = np.array([0.9, 0.1, 0.2, 0.8, 0.3, 0.7, 0.5])  # user 1: AUC 3/4, user 2: AUC 0
    assert valid_user_aucs(users, labels, scores) == {"gauc": pytest.approx(4 / 6 * 0.75),
                                                      "avgauc": pytest.approx(0.375)}


def test_explanations_and_history_are_produced(catalog):
    contributions = catalog.load("finalmlp.stream_contributions")
    assert contributions["share"].sum() == pytest.approx(1.0)
    assert set(catalog.load("finalmlp.gate_means")["stream"]) == {"user", "item"}
    assert catalog.load("dualmlp.gate_means").empty
    assert catalog.load("finalmlp.training_history").groupby("member").size().tolist() == [2, 2]
    assert len(catalog.load("dualmlp.training_history")) == 2
