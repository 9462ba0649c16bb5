"""Every pipeline agrees with the model registry: the same models, inputs and roles."""

from pathlib import Path

import yaml

from book_recs.model_registry import (
    MODEL_NAMES,
    MODELS,
    PROBABILITY_MODELS,
    REFERENCE_MODEL,
    SHARED_INPUTS,
    trained_by,
)
from book_recs.pipelines.baselines import create_pipeline as create_baselines
from book_recs.pipelines.evaluation import create_pipeline as create_evaluation
from book_recs.pipelines.finalmlp import create_pipeline as create_finalmlp
from book_recs.pipelines.reporting import create_pipeline as create_reporting

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
TRAINING = {"finalmlp": create_finalmlp, "baselines": create_baselines}
SPLITS = ("valid", "test")


def _namespaces(pipeline) -> set[str]:
    return {node.namespace for node in pipeline.nodes}


def test_registry_names_are_unique_with_one_reference_and_a_known_pipeline_each():
    assert len(set(MODEL_NAMES)) == len(MODELS)
    assert [m.name for m in MODELS if m.role == "reference"] == [REFERENCE_MODEL]
    assert {m.pipeline for m in MODELS} == set(TRAINING)
    assert set(PROBABILITY_MODELS) == {"finalmlp", "dualmlp", "catboost_classifier", "popularity"}


def test_each_training_pipeline_trains_exactly_its_registry_models_over_the_shared_inputs():
    for name, create in TRAINING.items():
        pipeline = create()
        assert _namespaces(pipeline) == {m.name for m in trained_by(name)}, name
        data_inputs = {i for i in pipeline.inputs() if not i.startswith("params:")}
        # Every shared input, in whichever form the pipeline reads it (table or lazy reader).
        assert data_inputs <= SHARED_INPUTS, name
        assert {i.split("@")[0] for i in data_inputs} == {i.split("@")[0] for i in SHARED_INPUTS}, name


def test_every_model_scored_is_evaluated_and_every_evaluated_model_is_scored():
    scored = set().union(*(create().outputs() for create in TRAINING.values()))
    evaluation = create_evaluation()
    assert _namespaces(evaluation) == set(MODEL_NAMES)
    assert evaluation.inputs() - {"params:evaluation"} == {
        f"{ns}.scores_{split}" for ns in MODEL_NAMES for split in SPLITS}
    assert evaluation.inputs() - {"params:evaluation"} <= scored


def test_reporting_compares_the_reference_and_calibrates_the_probability_models():
    reporting = create_reporting()
    node = {n.name: n for n in reporting.nodes}
    assert set(node["plot_probability_calibration"].inputs) - {"params:reporting"} == {
        f"{ns}.scores_test" for ns in PROBABILITY_MODELS}
    assert set(node["compute_paired_differences"].inputs) - {
        "params:evaluation.confidence", "params:evaluation.borderline_margins"} == {
        f"{ns}.{dataset}" for ns in MODEL_NAMES for dataset in ("metrics", "bootstrap_replicates")}
    assert node["plot_stream_contributions"].inputs == [f"{REFERENCE_MODEL}.stream_contributions"]
    assert f"{REFERENCE_MODEL}.scores_test" in node["recommend_top_n"].inputs


def test_every_model_has_its_parameters_in_its_pipelines_file():
    for name in TRAINING:
        parameters = yaml.safe_load((CONF / f"parameters_{name}.yml").read_text())
        assert set(parameters) == {m.name for m in trained_by(name)}, name
