"""Structural checks of the project: the pipelines, the catalog and the README agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines, settings
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset

PROJECT_PATH = Path(__file__).resolve().parents[1]
ENVIRONMENTS = sorted(p.name for p in (PROJECT_PATH / "conf").iterdir()
                      if p.is_dir() and p.name not in ("base", "local"))


@pytest.fixture(scope="module")
def context():
    bootstrap_project(PROJECT_PATH)
    with KedroSession.create(project_path=PROJECT_PATH) as session:
        yield session.load_context()


def test_ci_runs_exactly_the_readme_test_command():
    ci_command = [line for line in (PROJECT_PATH / ".ci/run").read_text().splitlines()
                  if line.startswith("python3 -m venv")]
    assert len(ci_command) == 1
    assert ci_command[0] in (PROJECT_PATH / "README.md").read_text()


def test_registry_has_each_stage_and_a_default(context):
    expected = {"data_processing", "data_split", "feature_engineering", "finalmlp", "baselines",
                "evaluation", "reporting", "__default__"}
    assert expected <= set(pipelines)


def test_a_run_of_named_pipelines_registers_just_those(context, monkeypatch):
    # `kedro run --pipelines data_split` makes find_pipelines load only that pipeline.
    from book_recs.pipeline_registry import register_pipelines

    monkeypatch.setattr(pipelines, "_requested_pipelines", ["data_split"])
    assert set(register_pipelines()) == {"data_split"}


def test_every_dataset_a_pipeline_names_is_declared_in_the_catalog(context):
    """No silent MemoryDatasets: every input and output of every pipeline (those run on request
    too) persists through the catalog."""
    catalog = context.catalog
    undeclared = []
    for name in sorted(set().union(*(pipe.datasets() for pipe in pipelines.values()))):
        if name.startswith("params:") or name == "parameters":
            continue
        if name not in catalog or isinstance(catalog[name], MemoryDataset):
            undeclared.append(name)
    assert undeclared == []


def test_every_node_has_an_explicit_verb_noun_name():
    names = [node.name for pipe in pipelines.values() for node in pipe.nodes]
    auto_named = [n for n in names if "(" in n or "->" in n]
    assert auto_named == []
    short_names = {n.rsplit(".", 1)[-1] for n in names}
    assert all(re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", n) for n in short_names), short_names


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_loads_its_configuration(env):
    # The configuration alone: a session would also start the environment's engine (Spark).
    config = _configuration(env)
    assert config["parameters"]
    assert "books_raw" in DataCatalog.from_config(config["catalog"])


def _configuration(env: str | None) -> OmegaConfigLoader:
    """The environment's configuration as the project loads it (base merged under ``env``)."""
    bootstrap_project(PROJECT_PATH)  # the project's settings: its resolvers and merge strategy
    args = {**settings.CONFIG_LOADER_ARGS, "default_run_env": env or "local"}
    return OmegaConfigLoader(conf_source=str(PROJECT_PATH / "conf"), **args)


def test_every_environment_writes_its_own_data_dir_and_shares_the_title_cache():
    """A preset run never overwrites another environment's outputs; the title cache, keyed by
    encoder and title, is the one file they all share."""
    configs = {env or "base": _configuration(env) for env in [None, *ENVIRONMENTS]}
    data_dirs = {env: config["globals"]["data_dir"] for env, config in configs.items()}
    assert len(set(data_dirs.values())) == len(data_dirs), data_dirs
    assert all(path == f"data/{env}" for env, path in data_dirs.items() if env != "base")
    caches = {config["catalog"][name]["filepath"] for config in configs.values()
              for name in ("title_embeddings", "title_embeddings_cached")}
    assert len(caches) == 1, caches
