"""The baselines of the model registry, each its own namespace over the shared model-input tables.

Inside namespace ``ns`` the template names ``model``, ``training_summary``, ``scores_valid``,
``scores_test`` become ``ns.model`` ... and ``params:model`` becomes ``params:ns.model``; the
model-input tables and ``feature_specs`` stay shared (not namespaced).
"""

from __future__ import annotations

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from book_recs.model_registry import SHARED_INPUTS, trained_by

from .nodes import (
    fit_popularity_rates,
    score_randomly,
    score_with_classifier,
    score_with_popularity,
    score_with_ranker,
    train_catboost_classifier,
    train_catboost_ranker,
)

SPLITS_SCORED = ("valid", "test")


def _scoring_nodes(score: Callable, model_input: str) -> list[Node]:
    return [
        Node(score, inputs={model_input: "model", "rows": f"model_input_{split}@pandas"},
             outputs=f"scores_{split}", name=f"score_{split}", tags="scoring")
        for split in SPLITS_SCORED
    ]


def _catboost_template(fit: Callable, score: Callable) -> Pipeline:
    training = Node(
        fit,
        inputs={"train": "model_input_train@pandas", "valid": "model_input_valid@pandas",
                "specs": "feature_specs", "params": "params:model"},
        outputs=["model", "training_summary"],
        name="train_model",
        tags="training",
    )
    return Pipeline([training, *_scoring_nodes(score, "model")])


def _popularity_template() -> Pipeline:
    fitting = Node(fit_popularity_rates,
                   inputs={"train": "model_input_train@pandas", "params": "params:model"},
                   outputs="model", name="fit_popularity_rates", tags="training")
    return Pipeline([fitting, *_scoring_nodes(score_with_popularity, "rates")])


def _random_template() -> Pipeline:
    return Pipeline([
        Node(score_randomly, inputs={"rows": f"model_input_{split}@pandas", "params": "params:model"},
             outputs=f"scores_{split}", name=f"score_{split}", tags="scoring")
        for split in SPLITS_SCORED
    ])


# One template builder per registry kind.
TEMPLATES: dict[str, Callable[[], Pipeline]] = {
    "catboost_ranker": lambda: _catboost_template(train_catboost_ranker, score_with_ranker),
    "catboost_classifier": lambda: _catboost_template(train_catboost_classifier,
                                                      score_with_classifier),
    "popularity": _popularity_template,
    "random": _random_template,
}


def create_pipeline(**kwargs) -> Pipeline:
    """Every model the registry has the ``baselines`` pipeline train, one namespace each, summed."""
    templates = {model.name: TEMPLATES[model.kind]() for model in trained_by("baselines")}
    return sum(
        (Pipeline(template, namespace=namespace, inputs=SHARED_INPUTS & template.inputs())
         for namespace, template in templates.items()),
        Pipeline([]),
    )
