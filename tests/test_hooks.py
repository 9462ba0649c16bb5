"""The tracking hook: what it logs into an active MLflow run, and that it is silent without one."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import pandas as pd
import pytest

from book_recs.evaluation import evaluate_scores
from book_recs.hooks import TrackingHooks, file_sha256, flatten_metrics
from tests.evaluation.frames import make_scores


def test_flatten_metrics_nests_with_dots_and_sanitises_names():
    metrics = {"test": {"auc": 0.7, "ndcg@3": {"value": 0.5, "ci_low": 0.4}, "n_users": 10},
               "note": "text", "flag": True, "nan": float("nan")}
    assert flatten_metrics(metrics, prefix="finalmlp") == {
        "finalmlp.test.auc": 0.7,
        "finalmlp.test.ndcg_at_3.value": 0.5,
        "finalmlp.test.ndcg_at_3.ci_low": 0.4,
        "finalmlp.test.n_users": 10.0,
    }


def test_flattened_evaluation_metrics_carry_gauc_and_avgauc_with_their_intervals():
    summary, _, _ = evaluate_scores(make_scores(30, seed=1), [3], 20, seed=0, confidence=0.95)
    flat = flatten_metrics({"test": summary}, prefix="finalmlp")
    for name in ("gauc", "avgauc"):
        for key in ("value", "ci_low", "ci_high", "n_users"):
            assert f"finalmlp.test.metrics.{name}.{key}" in flat
    assert flat["finalmlp.test.metrics.gauc.value"] == summary["metrics"]["gauc"]["value"]


def test_file_sha256_changes_with_content_and_order(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert file_sha256([a, b]) != file_sha256([b, a])
    before = file_sha256([a, b])
    b.write_bytes(b"three")
    assert file_sha256([a, b]) != before


@pytest.fixture
def mlflow_store(tmp_path: Path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("hooks")  # a Kedro session in another test may have set its own
    yield tmp_path
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def test_hook_logs_metrics_tables_and_figures_into_the_active_run(mlflow_store):
    hooks = TrackingHooks()
    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1])
    table = pd.DataFrame({"model": ["finalmlp"], "auc": [0.7]})
    with mlflow.start_run() as run:
        hooks.after_node_run(node=None, outputs={
            "finalmlp.metrics": {"test": {"auc": 0.71}},
            "ndcg_distribution_plot": figure,
            "model_comparison": table,
            "model_comparison_markdown": "| model |",
            "library.ease.metrics": {"test": {"ndcg@10": 0.03}},
            "library.model_comparison": table,
            "library.model_comparison_markdown": "| model |",
        })
    client = mlflow.tracking.MlflowClient()
    logged = client.get_run(run.info.run_id)
    assert logged.data.metrics == {"finalmlp.test.auc": 0.71, "library.ease.test.ndcg_at_10": 0.03}
    artifacts = {a.path for folder in ("plots", "reports")
                 for a in client.list_artifacts(run.info.run_id, folder)}
    assert artifacts == {"plots/ndcg_distribution_plot.png", "reports/model_comparison.csv",
                         "reports/model_comparison.md", "reports/library.model_comparison.csv",
                         "reports/library.model_comparison.md"}


def test_hook_does_nothing_without_an_active_run(mlflow_store):
    TrackingHooks().after_node_run(node=None, outputs={"finalmlp.metrics": {"auc": 0.7}})
    assert mlflow.active_run() is None
    assert mlflow.search_runs(search_all_experiments=True).empty
