"""The library recommender in namespace ``library.recommender``: the candidate stage chosen among
the anchors, the pair fields, the re-ranker's rows and training, the served ``recommender`` with
K chosen on valid, and its lists of the protocol's readers, evaluated as the anchors' are (the
library protocol's ``evaluation_template``)."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from book_recs.model_registry import LIBRARY_ANCHORS
from book_recs.pipelines.library_protocol.nodes import EVALUATED_SPLITS
from book_recs.pipelines.library_protocol.pipeline import (
    NAMESPACE,
    evaluation_template,
)

from .nodes import (
    build_library_recommender,
    build_pair_features,
    build_reranker_rows,
    choose_candidate_stage,
    list_catalogue_books,
    list_reader_profiles,
    rank_library_readers,
    train_reranker,
)

FITTED = {"title_components": "title_components@ibis", "statistics": "item_statistics@ibis",
          "priors": "statistics_priors@ibis", "vocabularies": "vocabularies@ibis",
          "scaling": "scaling_statistics@pandas", "feature_params": "params:feature_engineering"}
# The protocol's datasets the template names plainly (``library.<name>`` outside it), and each
# anchor's model (``<anchor>_model`` inside, ``library.<anchor>.model`` outside).
PROTOCOL_DATASETS = {"readers", "catalogue_books@ibis", "catalogue_books@pandas",
                     "reader_profiles@pandas"}
ANCHOR_MODELS = {f"{anchor}_model": f"{NAMESPACE}.{anchor}.model" for anchor in LIBRARY_ANCHORS}


def _named(function, **fixed):
    return update_wrapper(partial(function, **fixed), function)


def recommender_template() -> Pipeline:
    return Pipeline([
        Node(choose_candidate_stage,
             inputs={"readers": "readers", "params": "params:candidates",
                     **{anchor: f"{anchor}_model" for anchor in LIBRARY_ANCHORS}},
             outputs=["candidate_stage", "candidate_stage_choice", "candidate_recall_plot"],
             name="choose_candidate_stage", tags="training"),
        Node(build_pair_features,
             inputs={"readers": "readers", "stage": "candidate_stage",
                     "books": "catalogue_books@ibis", **FITTED, "params": "params:features"},
             outputs="pair_features", name="build_pair_features", tags="training"),
        Node(build_reranker_rows,
             inputs={"readers": "readers", "profiles": "reader_profiles@pandas",
                     "stage": "candidate_stage", "features": "pair_features",
                     "cold": "cold_start_recommender", "books": "catalogue_books@ibis",
                     **FITTED, "folds": "statistics_folds@ibis",
                     "split_params": "params:split", "params": "params:pairs"},
             outputs=["train_rows", "valid_rows"], name="build_reranker_rows", tags="training"),
        Node(train_reranker,
             inputs={"train": "train_rows", "valid": "valid_rows", "features": "pair_features",
                     "model_params": "params:model", "training_params": "params:training"},
             outputs=["model", "training_history"], name="train_reranker", tags="training"),
        Node(build_library_recommender,
             inputs={"cold": "cold_start_recommender", "stage": "candidate_stage",
                     "readers": "readers", "features": "pair_features", "model": "model",
                     "catalogue_books": "catalogue_books@pandas",
                     "profiles": "reader_profiles@pandas", "params": "params:candidates",
                     "top_n_judged": "params:top_n"},
             outputs=["served", "candidate_count_choice"], name="build_library_recommender",
             tags="training"),
        *[Node(_named(rank_library_readers, split=split),
               inputs={"recommender": "served", "readers": "readers",
                       "profiles": "reader_profiles@pandas", "k": "params:top_n"},
               outputs=f"top_n_{split}", name=f"rank_{split}_readers", tags="scoring")
          for split in EVALUATED_SPLITS],
        *evaluation_template(),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    shared = [
        Node(list_reader_profiles, inputs="cleaned_ratings@ibis",
             outputs=f"{NAMESPACE}.reader_profiles@ibis", name="list_reader_profiles",
             namespace=NAMESPACE),
        Node(list_catalogue_books,
             inputs={"ratings": "cleaned_ratings@ibis", "implicit": "implicit_interactions@ibis"},
             outputs=f"{NAMESPACE}.catalogue_books@ibis", name="list_catalogue_books",
             namespace=NAMESPACE),
    ]
    template = recommender_template()
    recommender = Pipeline(
        template, namespace=f"{NAMESPACE}.recommender",
        inputs={**{name: f"{NAMESPACE}.{name}" for name in PROTOCOL_DATASETS}, **ANCHOR_MODELS,
                **{name: name for name in template.inputs() if not name.startswith("params:")
                   and name not in PROTOCOL_DATASETS and name not in ANCHOR_MODELS}},
        outputs={"served": "recommender"},
        parameters={"params:top_n": f"params:{NAMESPACE}.top_n",
                    "params:split": f"params:{NAMESPACE}.split",
                    "params:feature_engineering": "params:feature_engineering",
                    "params:evaluation": "params:evaluation"})
    return Pipeline([*shared, recommender], tags=NAMESPACE)
