"""Rank a candidate list of books for a new user profile with the trained FinalMLP."""

from kedro.pipeline import Node, Pipeline

from .nodes import rank_candidates


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                rank_candidates,
                inputs={
                    "profile": "params:recommendation.profile",
                    "candidate_isbns": "params:recommendation.candidate_isbns",
                    "books": "cleaned_ratings",
                    "title_embeddings": "title_embeddings",
                    "transformers": "feature_transformers",
                    "model": "finalmlp.model",
                    "top_n": "params:recommendation.top_n",
                },
                outputs="profile_recommendations",
                name="rank_candidates_for_profile",
            )
        ],
        tags=["recommendation"],
    )
