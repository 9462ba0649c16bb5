"""One evaluation template, reused per model namespace of the model registry.

Inside namespace ``ns`` the template reads ``ns.scores_valid`` / ``ns.scores_test`` and writes
``ns.metrics``, ``ns.bootstrap_replicates``, ``ns.per_user_metrics_test``; ``params:evaluation``
stays shared.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from book_recs.model_registry import MODEL_NAMES

from .nodes import evaluate_model

SHARED_PARAMETERS = "params:evaluation"


def evaluation_template() -> Pipeline:
    """The un-namespaced evaluation of one model."""
    return Pipeline([
        Node(evaluate_model,
             inputs={"scores_valid": "scores_valid", "scores_test": "scores_test",
                     "params": SHARED_PARAMETERS},
             outputs=["metrics", "bootstrap_replicates", "per_user_metrics_test"],
             name="evaluate_model", tags="evaluation"),
    ])


def create_pipeline(namespaces: tuple[str, ...] = MODEL_NAMES, **kwargs) -> Pipeline:
    """The evaluation template once per model namespace (every registry model), summed."""
    return sum((Pipeline(evaluation_template(), namespace=namespace,
                         parameters={SHARED_PARAMETERS}, tags="evaluation")
                for namespace in namespaces), Pipeline([]))
