from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from book_recs.model_registry import MODEL_NAMES
from book_recs.pipelines.evaluation import create_pipeline
from tests.evaluation.frames import make_scores

CONF = Path(__file__).resolve().parents[3] / "conf" / "base"
OUTPUTS = ("metrics", "bootstrap_replicates", "per_user_metrics_test")
PARAMS = {"ks": [3, 10], "bootstrap_resamples": 50, "bootstrap_seed": 2021, "confidence": 0.95}


def test_one_namespace_per_model_with_shared_parameters():
    pipeline = create_pipeline()
    assert {node.namespace for node in pipeline.nodes} == set(MODEL_NAMES)
    assert pipeline.inputs() == {"params:evaluation"} | {
        f"{ns}.scores_{split}" for ns in MODEL_NAMES for split in ("valid", "test")}
    assert pipeline.outputs() == {f"{ns}.{name}" for ns in MODEL_NAMES for name in OUTPUTS}
    assert all("evaluation" in node.tags for node in pipeline.nodes)


@pytest.mark.parametrize("namespaces", [("finalmlp", "random")])
def test_pipeline_runs_end_to_end_and_deterministically(namespaces):
    def run():
        catalog = DataCatalog()
        catalog["params:evaluation"] = PARAMS
        for seed, ns in enumerate(namespaces):
            catalog[f"{ns}.scores_valid"] = make_scores(20, seed=seed)
            catalog[f"{ns}.scores_test"] = make_scores(30, seed=seed + 10,
                                                       with_probability=ns == "finalmlp")
        SequentialRunner().run(create_pipeline(namespaces), catalog)
        return {f"{ns}.{name}": catalog.load(f"{ns}.{name}") for ns in namespaces for name in OUTPUTS}

    first, second = run(), run()
    assert set(first["finalmlp.metrics"]["test"]["metrics"]) >= {
        "auc", "logloss", "gauc", "avgauc", "ndcg", "ndcg@3", "recall@10"}
    assert "logloss" not in first["random.metrics"]["test"]["metrics"]
    assert first["random.metrics"]["valid"]["n_rows"] == len(make_scores(20, seed=1))
    splits = first["random.bootstrap_replicates"]["split"].value_counts().to_dict()
    assert splits == {"valid": 50, "test": 50}
    for name, value in first.items():
        assert value == second[name] if name.endswith("metrics") else value.equals(second[name])
