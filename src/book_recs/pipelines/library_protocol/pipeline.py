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
    plot_test_ndcg,
    rank_readers,
    split_libraries,
    tune_anchor,
)

NAMESPACE = "library"
ANCHOR_CLASSES = {"popularity": Popularity, "item_knn": ItemKNN, "ease": EASE, "als": ALS}
READERS = f"{NAMESPACE}.readers"
# A model template names the protocol's shared inputs plainly; ``model_namespace`` maps them.
SHARED_PARAMETERS = {"params:top_n": f"params:{NAMESPACE}.top_n",
                     "params:evaluation": "params:evaluation"}


def _named(function, **fixed):
    """``function`` with some arguments fixed, keeping its name for Kedro."""
    return update_wrapper(partial(function, **fixed), function)


def evaluation_template() -> list[Node]:
    """Lists of the valid and test readers (``top_n_<split>``) evaluated into ``metrics``,
    ``bootstrap_replicates`` and ``per_user_metrics_test``: every model of the protocol, the
    recommender included, ends with these nodes."""
    return [Node(evaluate_top_n,
                 inputs={"top_n_valid": "top_n_valid", "top_n_test": "top_n_test",
                         "readers": "readers", "k": "params:top_n",
                         "params": "params:evaluation"},
                 outputs=["metrics", "bootstrap_replicates", "per_user_metrics_test"],
                 name="evaluate_top_n", tags="evaluation")]


def model_namespace(template: Pipeline, model: str) -> Pipeline:
    """``template`` as ``library.<model>``: its own datasets and ``params:tuning`` prefixed, the
    protocol's readers, ``top_n`` and the evaluation parameters shared."""
    return Pipeline(template, namespace=f"{NAMESPACE}.{model}",
                    inputs={name: f"{NAMESPACE}.{name}" for name in template.inputs()
                            if name == "readers"},
                    parameters={name: actual for name, actual in SHARED_PARAMETERS.items()
                                if name in template.inputs()})


def anchor_template(anchor: str) -> Pipeline:
    """One anchor: tuned on valid (``params:tuning``), its lists, their evaluation."""
    return Pipeline([
        Node(_named(tune_anchor, model_class=ANCHOR_CLASSES[anchor]),
             inputs={"readers": "readers", "params": "params:tuning", "k": "params:top_n"},
             outputs=["model", "tuning"], name="tune_anchor", tags="training"),
        *[Node(_named(rank_readers, split=split),
               inputs={"model": "model", "readers": "readers", "k": "params:top_n"},
               outputs=f"top_n_{split}", name=f"rank_{split}_readers", tags="scoring")
          for split in EVALUATED_SPLITS],
        *evaluation_template(),
    ])


def comparison_nodes(models: tuple[str, ...], reference: str) -> list[Node]:
    """The protocol's comparison table, ``reference`` minus every other model, the markdown."""
    pair_inputs = {f"{model}__{kind}": f"{NAMESPACE}.{model}.{dataset}" for model in models
                   for kind, dataset in (("metrics", "metrics"),
                                         ("replicates", "bootstrap_replicates"))}
    return [
        Node(tabulate_model_comparison,
             inputs={model: f"{NAMESPACE}.{model}.metrics" for model in models},
             outputs=f"{NAMESPACE}.model_comparison", name="tabulate_model_comparison",
             namespace=NAMESPACE),
        Node(_named(compute_paired_differences, reference=reference),
             inputs={"confidence": "params:evaluation.confidence",
                     "margins": f"params:{NAMESPACE}.borderline_margins", **pair_inputs},
             outputs=f"{NAMESPACE}.paired_differences", name="compute_paired_differences",
             namespace=NAMESPACE),
        Node(render_comparison_markdown,
             inputs={"model_comparison": f"{NAMESPACE}.model_comparison",
                     "paired_differences": f"{NAMESPACE}.paired_differences"},
             outputs=f"{NAMESPACE}.model_comparison_markdown", name="render_comparison_markdown",
             namespace=NAMESPACE),
        Node(plot_test_ndcg, inputs={"model_comparison": f"{NAMESPACE}.model_comparison",
                                     "k": f"params:{NAMESPACE}.top_n"},
             outputs=f"{NAMESPACE}.ndcg_plot", name="plot_test_ndcg", namespace=NAMESPACE),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    split = [
        Node(collect_reader_interactions,
             inputs={"ratings": "cleaned_ratings@ibis", "implicit": "implicit_interactions@ibis",
                     "user_splits": "user_splits@ibis"},
             outputs=f"{NAMESPACE}.reader_interactions@ibis", name="collect_reader_interactions",
             namespace=NAMESPACE),
        Node(split_libraries,
             inputs={"interactions": f"{NAMESPACE}.reader_interactions@pandas",
                     "params": f"params:{NAMESPACE}.split"},
             outputs=f"{NAMESPACE}.reader_rows", name="split_libraries", namespace=NAMESPACE),
        Node(index_readers, inputs=f"{NAMESPACE}.reader_rows", outputs=READERS,
             name="index_readers", namespace=NAMESPACE),
    ]
    anchors = [model_namespace(anchor_template(anchor), anchor) for anchor in LIBRARY_ANCHORS]
    return Pipeline([*split, *anchors, *comparison_nodes(LIBRARY_MODEL_NAMES, LIBRARY_REFERENCE)],
                    tags=NAMESPACE)
