"""Validate the three raw tables and clean them into one row per explicit rating."""

from kedro.pipeline import Node, Pipeline

from .nodes import clean_ratings


def create_pipeline(**kwargs) -> Pipeline:
    """One node: validation (errors name the file) then the article's cleaning rules."""
    return Pipeline(
        [
            Node(
                clean_ratings,
                inputs={"users": "users_raw", "ratings": "ratings_raw", "books": "books_raw",
                        "params": "params:data_processing"},
                outputs=["cleaned_ratings", "cleaning_summary"],
                name="clean_ratings",
            ),
        ],
        tags=["data"],
    )
