"""The whole default pipeline on the shipped sample, as a user runs it: `kedro run`, twice, in fresh
processes and fresh copies of the project (the suite's shared ``sample_run`` and ``second_run``);
the second run changes one parameter, the random baseline's seed, and runs on kernels capped at
AVX2 as on an older CPU. Checks determinism across instruction sets under strict numerics
(everything the seed does not reach is byte-identical: metrics, FinalMLP's and DualMLP's scores
and weights), that the changed seed changes the random scores and is tracked, that each run is recorded in its local MLflow store with its
tags and metrics, and that `kedro viz build` succeeds."""

from __future__ import annotations

import filecmp
import pickle
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import RESEEDED

pytestmark = pytest.mark.slow


def outputs(project: Path) -> dict[str, Path]:
    """Every score table and metrics report, by path relative to data/."""
    data = project / "data"
    files = [*data.glob("07_model_output/**/*.parquet"), *data.glob("08_reporting/**/*.json"),
             *data.glob("08_reporting/**/*.csv")]
    return {str(p.relative_to(data)): p for p in files if "cleaning_summary" not in p.name}


def weights(project: Path, model: str) -> dict[str, torch.Tensor]:
    """Weights of the newest saved ``model`` (models are versioned: <model>.pkl/<version>/)."""
    newest = sorted((project / "data" / "06_models" / f"{model}.pkl").glob(f"*/{model}.pkl"))[-1]
    with newest.open("rb") as handle:
        return pickle.load(handle).state_dict()


@pytest.fixture(scope="module")
def two_runs(sample_run, second_run):
    return sample_run, second_run


def mlflow_client(project: Path):
    """A client of the project's local MLflow store."""
    import mlflow

    return mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def recorded_runs(client) -> list:
    return client.search_runs([client.get_experiment_by_name("book_recs").experiment_id])


def reseeded_rows_dropped(path: Path) -> pd.DataFrame:
    """A table of several models without the reseeded model's rows."""
    table = pd.read_csv(path)
    return table[~table.astype(str).apply(lambda column: column.str.contains(RESEEDED)).any(axis=1)]


def test_what_the_changed_seed_does_not_reach_is_identical(two_runs):
    first, second = two_runs
    first_outputs, second_outputs = outputs(first), outputs(second)
    assert first_outputs.keys() == second_outputs.keys()
    assert any("metrics" in name for name in first_outputs)
    shared = [name for name in first_outputs  # histories and grids hold wall-clock seconds
              if f"{RESEEDED}/" not in name and not name.endswith("tuning.csv")
              and "training_history" not in name and "training_summary" not in name]
    assert any(name.startswith("07_model_output/finalmlp/") for name in shared)
    differing = [name for name in shared
                 if not filecmp.cmp(first_outputs[name], second_outputs[name], shallow=False)]
    assert differing == ["08_reporting/model_comparison.csv", "08_reporting/paired_differences.csv"]
    for name in differing:  # they compare every model, the reseeded one too
        pd.testing.assert_frame_equal(reseeded_rows_dropped(first_outputs[name]),
                                      reseeded_rows_dropped(second_outputs[name]))
    assert "07_model_output/library/recommender/top_n_test.parquet" in shared
    for model in ("finalmlp", "dualmlp"):
        assert f"07_model_output/{model}/scores_test.parquet" in shared
        weights1, weights2 = weights(first, model), weights(second, model)
        assert all(torch.equal(weights1[k], weights2[k]) for k in weights1)


def test_the_changed_seed_changes_its_scores_and_is_tracked(two_runs):
    first_scores, second_scores = (project / "data" / "07_model_output" / RESEEDED
                                   / "scores_test.parquet" for project in two_runs)
    assert not filecmp.cmp(first_scores, second_scores, shallow=False)
    seeds = [recorded_runs(mlflow_client(project))[0].data.params[f"{RESEEDED}.model.seed"]
             for project in two_runs]
    assert seeds == ["2021", "7"]


def test_each_run_is_recorded_in_its_local_mlflow_store(two_runs):
    metrics = []
    for project in two_runs:
        client = mlflow_client(project)
        (run,) = recorded_runs(client)
        assert run.data.tags["kedro_env"] == "local"
        assert len(run.data.tags["raw_data_sha256"]) == 64
        assert run.data.tags["numerics"].startswith("strict (MKL_CBWR=AVX2,STRICT")
        assert run.data.params["finalmlp.training.seed"] == "2021"
        assert any(name.startswith("finalmlp.") for name in run.data.metrics)
        assert client.list_artifacts(run.info.run_id, "plots")
        metrics.append({name: value for name, value in run.data.metrics.items()
                        if RESEEDED not in name})
    assert metrics[0] == metrics[1]


def test_kedro_viz_build_succeeds(viz_build):
    assert (viz_build / "build" / "index.html").exists()
