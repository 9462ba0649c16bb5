"""Reporting over every evaluated model (plain pipeline reading the namespaced datasets)."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from book_recs.evaluation.plots import plot_gate_means, plot_stream_contributions
from book_recs.model_registry import MODEL_NAMES, PROBABILITY_MODELS, REFERENCE_MODEL

from .nodes import (
    compute_paired_differences,
    plot_per_user_ndcg,
    plot_probability_calibration,
    recommend_top_n,
    render_comparison_markdown,
    tabulate_model_comparison,
)


def _named(function, **fixed):
    """``function`` with some arguments fixed, keeping its name for Kedro."""
    return update_wrapper(partial(function, **fixed), function)


def create_pipeline(namespaces: tuple[str, ...] = MODEL_NAMES,
                    reference: str = REFERENCE_MODEL, **kwargs) -> Pipeline:
    """Comparison table, paired differences, figures and FinalMLP's top-N recommendations."""
    probability_models = [ns for ns in namespaces if ns in PROBABILITY_MODELS]
    pair_inputs = {f"{ns}__{kind}": f"{ns}.{dataset}" for ns in namespaces
                   for kind, dataset in (("metrics", "metrics"), ("replicates", "bootstrap_replicates"))}
    return Pipeline([
        Node(tabulate_model_comparison, inputs={ns: f"{ns}.metrics" for ns in namespaces},
             outputs="model_comparison", name="tabulate_model_comparison"),
        Node(render_comparison_markdown,
             inputs={"model_comparison": "model_comparison",
                     "paired_differences": "paired_differences"},
             outputs="model_comparison_markdown", name="render_comparison_markdown"),
        Node(_named(compute_paired_differences, reference=reference),
             inputs={"confidence": "params:evaluation.confidence",
                     "margins": "params:evaluation.borderline_margins", **pair_inputs},
             outputs="paired_differences", name="compute_paired_differences"),
        Node(plot_per_user_ndcg, inputs={ns: f"{ns}.per_user_metrics_test" for ns in namespaces},
             outputs="per_user_ndcg_plot", name="plot_per_user_ndcg"),
        Node(plot_stream_contributions, inputs=f"{reference}.stream_contributions",
             outputs="stream_contributions_plot", name="plot_stream_contributions"),
        Node(plot_gate_means, inputs=f"{reference}.gate_means",
             outputs="gate_means_plot", name="plot_gate_means"),
        Node(plot_probability_calibration,
             inputs={"params": "params:reporting",
                     **{ns: f"{ns}.scores_test" for ns in probability_models}},
             outputs="calibration_plot", name="plot_probability_calibration"),
        Node(recommend_top_n,
             inputs={"scores_test": f"{reference}.scores_test", "test_ratings": "test_ratings@pandas",
                     "params": "params:reporting"},
             outputs="recommendations_test", name="recommend_top_n"),
    ], tags="reporting")
