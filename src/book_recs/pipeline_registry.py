"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline
from kedro_mlflow.pipeline import pipeline_ml_factory

from book_recs.pipelines.recommendation.pipeline import INFERENCE_TAG
from book_recs.serving.mlflow_model import INPUT_NAME, log_model_kwargs

# Run on request only (`kedro run --pipeline tuning`): a search is many trainings.
ON_REQUEST = ("tuning",)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every folder under ``pipelines/`` is one pipeline; ``__default__`` is all of them but the ones
    run on request, bound by kedro-mlflow's ``pipeline_ml_factory`` to the recommendation
    pipeline's inference node: at the end of every tracked ``kedro run`` kedro-mlflow logs that
    node and the datasets it reads (the ``recommender``) as an MLflow Model and registers it.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    if "__default__" not in pipelines:  # `kedro run --pipelines a,b` loads only the pipelines it names
        return pipelines
    training = sum(
        (pipe for name, pipe in pipelines.items() if name not in ON_REQUEST), Pipeline([])
    )
    pipelines["__default__"] = pipeline_ml_factory(
        training=training,
        inference=pipelines["recommendation"].only_nodes_with_tags(INFERENCE_TAG),
        input_name=INPUT_NAME,
        log_model_kwargs=log_model_kwargs(),
    )
    return pipelines
