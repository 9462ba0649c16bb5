from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from book_recs.columns import KEY_COLUMNS
from book_recs.model_registry import PROBABILITY_MODELS, SHARED_INPUTS, trained_by
from book_recs.pipelines.baselines import create_pipeline
from tests.baselines.frames import SPECS, catboost_params, make_model_input

CONF = Path(__file__).resolve().parents[3] / "conf" / "base"
NAMESPACES = tuple(model.name for model in trained_by("baselines"))


def _outputs(namespace: str) -> set[str]:
    scores = {f"{namespace}.scores_valid", f"{namespace}.scores_test"}
    if namespace.startswith("catboost_"):
        return scores | {f"{namespace}.model", f"{namespace}.training_summary"}
    return scores | ({"popularity.model"} if namespace == "popularity" else set())


def test_pipeline_is_one_namespace_per_registry_baseline_over_shared_inputs():
    assert NAMESPACES == ("catboost_ranker", "catboost_classifier", "popularity", "random")
    pipeline = create_pipeline()
    assert {node.namespace for node in pipeline.nodes} == set(NAMESPACES)
    params = {f"params:{ns}.model" for ns in NAMESPACES}
    assert pipeline.inputs() == {"model_input_train@pandas", "model_input_valid@pandas",
                                 "model_input_test@pandas", "feature_specs"} | params
    assert pipeline.inputs() - params <= SHARED_INPUTS
    produced = pipeline.datasets() - pipeline.inputs()
    assert produced == set().union(*(_outputs(ns) for ns in NAMESPACES))
    assert {node.name for node in pipeline.only_nodes_with_tags("training").nodes} == {
        "catboost_ranker.train_model", "catboost_classifier.train_model",
        "popularity.fit_popularity_rates"}


def test_parameters_file_has_one_key_per_namespace():
    parameters = yaml.safe_load((CONF / "parameters_baselines.yml").read_text())
    assert set(parameters) == set(NAMESPACES)
    assert all(parameters[ns]["model"]["thread_count"] == 2 for ns in NAMESPACES[:2])


@pytest.fixture(scope="module")
def run_outputs():
    catalog = DataCatalog()
    catalog["model_input_train@pandas"] = make_model_input(n_users=20, books_per_user=6, seed=1)
    catalog["model_input_valid@pandas"] = make_model_input(6, 6, seed=2, first_user=100)
    catalog["model_input_test@pandas"] = make_model_input(6, 6, seed=3, first_user=200)
    catalog["feature_specs"] = SPECS
    params = {"catboost_ranker": catboost_params(True, iterations=15),
              "catboost_classifier": catboost_params(False, iterations=15),
              "popularity": {"author_column": "Book-Author", "book_prior_strength": 5.0,
                             "author_prior_strength": 5.0},
              "random": {"seed": 3}}
    for namespace, model_params in params.items():
        catalog[f"params:{namespace}.model"] = model_params
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("split", ["valid", "test"])
def test_pipeline_end_to_end_writes_contract_scores(run_outputs, namespace, split):
    rows = run_outputs.load(f"model_input_{split}@pandas")
    scores = run_outputs.load(f"{namespace}.scores_{split}")
    optional = ["probability"] if namespace in PROBABILITY_MODELS else []
    assert list(scores.columns) == [*KEY_COLUMNS, "score", *optional]
    pd.testing.assert_frame_equal(scores[list(KEY_COLUMNS)], rows[list(KEY_COLUMNS)])


@pytest.mark.parametrize("namespace", ["catboost_ranker", "catboost_classifier"])
def test_pipeline_end_to_end_writes_training_summaries(run_outputs, namespace):
    summary = run_outputs.load(f"{namespace}.training_summary")
    assert summary["model"] == namespace
    assert 0 <= summary["best_iteration"] < 15 and summary["seconds"] >= 0
