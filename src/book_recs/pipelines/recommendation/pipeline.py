"""The two-stage recommender: candidates, the recommender, a batch request, its evaluation.

Nodes tagged ``inference`` are what the served MLflow model runs on each request
(``pipeline_registry.py`` binds them to the training run with kedro-mlflow's
``pipeline_ml_factory``); the batch run answers ``params:recommendation.readers`` through the
very same node.
"""

from kedro.pipeline import Node, Pipeline

from book_recs.model_registry import REFERENCE_MODEL
from book_recs.serving.mlflow_model import INPUT_NAME

from .nodes import (
    build_recommender,
    evaluate_recommender,
    list_readers,
    recommend_books,
    select_candidate_books,
)

INFERENCE_TAG = "inference"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(select_candidate_books,
                 inputs={"train": "train_ratings@ibis", "params": "params:recommendation.candidates"},
                 outputs="candidate_books@ibis", name="select_candidate_books", tags="training"),
            Node(
                build_recommender,
                inputs={
                    "candidates": "candidate_books@ibis",
                    "books": "cleaned_ratings@ibis",
                    "title_components": "title_components@ibis",
                    "statistics": "item_statistics@ibis",
                    "priors": "statistics_priors@ibis",
                    "vocabularies": "vocabularies@ibis",
                    "scaling": "scaling_statistics@pandas",
                    "feature_params": "params:feature_engineering",
                    "model": f"{REFERENCE_MODEL}.model",
                    "default_top_n": "params:recommendation.default_top_n",
                    "ranking": "params:recommendation.ranking",
                    "limits": "params:recommendation.limits",
                },
                outputs="cold_start_recommender",
                name="build_recommender",
                tags="training",
            ),
            Node(list_readers, inputs="params:recommendation.readers", outputs=INPUT_NAME,
                 name="list_readers"),
            Node(recommend_books, inputs={"readers": INPUT_NAME, "recommender": "recommender"},
                 outputs="profile_recommendations", name="recommend_books", tags=INFERENCE_TAG),
            Node(
                evaluate_recommender,
                inputs={"recommender": "cold_start_recommender", "valid": "valid_ratings@pandas",
                        "test": "test_ratings@pandas", "popularity": "popularity.model",
                        "params": "params:recommendation.evaluation",
                        "candidate_params": "params:recommendation.candidates",
                        "evaluation_params": "params:evaluation"},
                outputs="recommender.metrics",
                name="evaluate_recommender",
            ),
        ],
        tags=["recommendation"],
    )
