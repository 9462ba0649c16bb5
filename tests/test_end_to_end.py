"""The whole default pipeline on the shipped sample, as a user runs it: `kedro run`, twice, in fresh
processes and fresh copies of the project (the suite's shared ``sample_run`` and ``second_run``).
Checks determinism (identical metrics, scores and FinalMLP weights), that each run is recorded in
its local MLflow store with its tags and metrics, that a changed seed changes the results, and
that `kedro viz build` succeeds."""

from __future__ import annotations

import filecmp
import pickle
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


def outputs(project: Path) -> dict[str, Path]:
    """Every score table and metrics report, by path relative to data/."""
    data = project / "data"
    files = [*data.glob("07_model_output/**/*.parquet"), *data.glob("08_reporting/**/*.json"),
             *data.glob("08_reporting/**/*.csv")]
    return {str(p.relative_to(data)): p for p in files if "cleaning_summary" not in p.name}


def finalmlp_weights(project: Path) -> dict[str, torch.Tensor]:
    """Weights of the newest saved FinalMLP (models are versioned: finalmlp.pkl/<version>/)."""
    newest = sorted((project / "data" / "06_models" / "finalmlp.pkl").glob("*/finalmlp.pkl"))[-1]
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


def test_two_runs_give_identical_numbers_and_weights(two_runs):
    first, second = two_runs
    first_outputs, second_outputs = outputs(first), outputs(second)
    assert first_outputs.keys() == second_outputs.keys()
    assert any("metrics" in name for name in first_outputs)
    differing = [name for name in first_outputs
                 if not filecmp.cmp(first_outputs[name], second_outputs[name], shallow=False)
                 and "training_history" not in name and "training_summary" not in name]
    assert differing == []  # histories hold wall-clock seconds, everything else must match
    weights1, weights2 = finalmlp_weights(first), finalmlp_weights(second)
    assert all(torch.equal(weights1[k], weights2[k]) for k in weights1)


def test_each_run_is_recorded_in_its_local_mlflow_store(two_runs):
    metrics = []
    for project in two_runs:
        client = mlflow_client(project)
        (run,) = recorded_runs(client)
        assert run.data.tags["kedro_env"] == "local"
        assert len(run.data.tags["raw_data_sha256"]) == 64
        assert run.data.params["finalmlp.training.seed"] == "2021"
        assert any(name.startswith("finalmlp.") for name in run.data.metrics)
        assert client.list_artifacts(run.info.run_id, "plots")
        metrics.append(run.data.metrics)
    assert metrics[0] == metrics[1]


def test_a_changed_seed_changes_the_model_and_is_tracked(second_run, reseeded_run):
    before, after = finalmlp_weights(second_run), finalmlp_weights(reseeded_run)
    assert not all(torch.equal(before[k], after[k]) for k in before)
    seeds = {run.data.params.get("finalmlp.training.seed")
             for run in recorded_runs(mlflow_client(reseeded_run))}
    assert seeds == {"2021", "7"}


def test_kedro_viz_build_succeeds(viz_build):
    assert (viz_build / "build" / "index.html").exists()
