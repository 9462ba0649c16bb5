"""One evaluation template, reused per model namespace.

Inside namespace ``ns`` the template reads ``ns.scores_valid`` / ``ns.scores_test`` and writes
``ns.metrics``, ``ns.bootstrap_replicates``, ``ns.per_user_metrics_test``; ``params:evaluation``
stays shared.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_model

# Extend this to evaluate another model writing `{ns}.scores_valid` / `{ns}.scores_test`.
MODEL_NAMESPACES = ("finalmlp", "dualmlp", "catboost_ranker", "catboost_classifier",
                    "popularity", "random")
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


def create_pipeline(namespaces: tuple[str, ...] = MODEL_NAMESPACES, **kwargs) -> Pipeline:
    """The evaluation template once per model namespace, summed."""
    return sum((Pipeline(evaluation_template(), namespace=namespace,
                         parameters={SHARED_PARAMETERS}, tags="evaluation")
                for namespace in namespaces), Pipeline([]))
