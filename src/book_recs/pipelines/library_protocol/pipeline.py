"""The reader's-library protocol in namespace ``library``: the readers' rows split into
libraries and held-out books, then one namespace per anchor (``library.<anchor>``: tuned on
valid, its lists of the valid and test readers, their evaluation), then the comparison.

The anchors are the registry's ``LIBRARY_ANCHORS`` (``book_recs.model_registry``); the
recommender that reads the library (``library_recommender``) is compared against them here.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from book_recs.model_registry import LIBRARY_ANCHORS, LIBRARY_MODEL_NAMES, LIBRARY_REFERENCE
from book_recs.pipelines.reporting.nodes import (
    compute_paired_differences,
    render_comparison_markdown,
    tabulate_model_comparison,
)
from book_recs.topn import ALS, EASE, ItemKNN, Popularity

from .nodes import (
    EVALUATED_SPLITS,
    collect_reader_interactions,
    evaluate_top_n,
    index_readers,
    rank_readers,
    split_libraries,
    tune_anchor,
)

NAMESPACE = "library"
ANCHOR_CLASSES = {"popularity": Popularity, "item_knn": ItemKNN, "ease": EASE, "als": ALS}
READERS = f"{NAMESPACE}.readers"
TOP_N = f"params:{NAMESPACE}.top_n"
SHARED = {READERS, TOP_N, "params:evaluation"}


def _named(function, **fixed):
    """``function`` with some arguments fixed, keeping its name for Kedro."""
    return update_wrapper(partial(function, **fixed), function)


def evaluation_template() -> list[Node]:
    """Lists of the valid and test readers (``top_n_<split>``) evaluated into ``metrics``,
    ``bootstrap_replicates`` and ``per_user_metrics_test``: every model of the protocol, the
    recommender included, ends with these nodes."""
    return [Node(evaluate_top_n,
                 inputs={"top_n_valid": "top_n_valid", "top_n_test": "top_n_test",
                         "readers": READERS, "k": TOP_N, "params": "params:evaluation"},
                 outputs=["metrics", "bootstrap_replicates", "per_user_metrics_test"],
                 name="evaluate_top_n", tags="evaluation")]


def anchor_template(anchor: str) -> Pipeline:
    """One anchor: tuned on valid (``params:grid``), its lists, their evaluation."""
    return Pipeline([
        Node(_named(tune_anchor, model_class=ANCHOR_CLASSES[anchor]),
             inputs={"readers": READERS, "params": "params:tuning", "k": TOP_N},
             outputs=["model", "tuning"], name="tune_anchor", tags="training"),
        *[Node(_named(rank_readers, split=split), inputs={"model": "model", "readers": READERS,
                                                         "k": TOP_N},
               outputs=f"top_n_{split}", name=f"rank_{split}_readers", tags="scoring")
          for split in EVALUATED_SPLITS],
        *evaluation_template(),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    reference = LIBRARY_REFERENCE
    split = Pipeline([
        Node(collect_reader_interactions,
             inputs={"ratings": "cleaned_ratings@ibis", "implicit": "implicit_interactions@ibis",
                     "user_splits": "user_splits@ibis"},
             outputs=f"{NAMESPACE}.reader_interactions@ibis", name="collect_reader_interactions"),
        Node(split_libraries,
             inputs={"interactions": f"{NAMESPACE}.reader_interactions@pandas",
                     "params": f"params:{NAMESPACE}.split"},
             outputs=f"{NAMESPACE}.reader_rows", name="split_libraries"),
        Node(index_readers, inputs=f"{NAMESPACE}.reader_rows", outputs=READERS,
             name="index_readers"),
    ], namespace=NAMESPACE, prefix_datasets_with_namespace=False)
    anchors = sum((Pipeline(anchor_template(anchor), namespace=f"{NAMESPACE}.{anchor}",
                            inputs=SHARED & anchor_template(anchor).inputs(),
                            parameters={TOP_N, "params:evaluation"})
                   for anchor in LIBRARY_ANCHORS), Pipeline([]))
    pair_inputs = {f"{model}__{kind}": f"{NAMESPACE}.{model}.{dataset}"
                   for model in LIBRARY_MODEL_NAMES
                   for kind, dataset in (("metrics", "metrics"),
                                         ("replicates", "bootstrap_replicates"))}
    comparison = Pipeline([
        Node(tabulate_model_comparison,
             inputs={model: f"{NAMESPACE}.{model}.metrics" for model in LIBRARY_MODEL_NAMES},
             outputs=f"{NAMESPACE}.model_comparison", name="tabulate_model_comparison"),
        Node(_named(compute_paired_differences, reference=reference),
             inputs={"confidence": "params:evaluation.confidence",
                     "margins": "params:evaluation.borderline_margins", **pair_inputs},
             outputs=f"{NAMESPACE}.paired_differences", name="compute_paired_differences"),
        Node(render_comparison_markdown,
             inputs={"model_comparison": f"{NAMESPACE}.model_comparison",
                     "paired_differences": f"{NAMESPACE}.paired_differences"},
             outputs=f"{NAMESPACE}.model_comparison_markdown", name="render_comparison_markdown"),
    ], namespace=NAMESPACE, prefix_datasets_with_namespace=False)
    return Pipeline([split, anchors, comparison], tags=NAMESPACE)
