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
                    "books": "cleaned_ratings@ibis",
                    "title_components": "title_components@ibis",
                    "statistics": "item_statistics@ibis",
                    "priors": "statistics_priors@ibis",
                    "vocabularies": "vocabularies@ibis",
                    "scaling": "scaling_statistics@pandas",
                    "feature_params": "params:feature_engineering",
                    "model": "finalmlp.model",
                    "top_n": "params:recommendation.top_n",
                },
                outputs="profile_recommendations",
                name="rank_candidates_for_profile",
            )
        ],
        tags=["recommendation"],
    )
