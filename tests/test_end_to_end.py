"""The whole default pipeline on the shipped sample, as a user runs it: `kedro run`, twice, in fresh
processes and fresh copies of the project (the first is the suite's shared ``sample_run``). Checks determinism (identical metrics, scores and FinalMLP weights), that each run is
recorded in the local MLflow store with its tags and metrics, that a changed seed changes the
results, and that `kedro viz build` succeeds."""

from __future__ import annotations

import filecmp
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import copy_project, kedro

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
def two_runs(sample_run, tmp_path_factory):
    """The shared sample run, and a second run of the same project in a fresh copy, recorded in
    the same MLflow store."""
    second = copy_project(tmp_path_factory.mktemp("second"))
    shutil.copy(sample_run / "mlflow.db", second / "mlflow.db")  # one store, two runs
    kedro(second, "run")
    return sample_run, second


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


def test_each_run_is_recorded_in_the_local_mlflow_store(two_runs):
    import mlflow

    _, second = two_runs
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{second / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("book_recs")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    for run in runs:
        assert run.data.tags["kedro_env"] == "local"
        assert len(run.data.tags["raw_data_sha256"]) == 64
        assert run.data.params["finalmlp.training.seed"] == "2021"
        assert any(name.startswith("finalmlp.") for name in run.data.metrics)
        assert client.list_artifacts(run.info.run_id, "plots")
    assert runs[0].data.metrics == runs[1].data.metrics


def test_a_changed_seed_changes_the_model_and_is_tracked(two_runs):
    import mlflow

    _, second = two_runs  # the shared run stays as it was, for the tests that read it
    before = finalmlp_weights(second)
    kedro(second, "run", "--pipeline", "finalmlp", "--namespaces", "finalmlp",
          "--params", "finalmlp.training.seed=7")
    after = finalmlp_weights(second)
    assert not all(torch.equal(before[k], after[k]) for k in before)
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{second / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("book_recs")
    seeds = {r.data.params.get("finalmlp.training.seed")
             for r in client.search_runs([experiment.experiment_id])}
    assert seeds == {"2021", "7"}


def test_kedro_viz_build_succeeds(two_runs):
    first, _ = two_runs
    kedro(first, "viz", "build")
    assert (first / "build" / "index.html").exists()
