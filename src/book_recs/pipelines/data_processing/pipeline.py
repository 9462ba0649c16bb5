"""Validate the raw tables: one row per explicit rating, and the implicit interactions apart."""

from kedro.pipeline import Node, Pipeline

from .nodes import clean_ratings, extract_implicit_interactions


def create_pipeline(**kwargs) -> Pipeline:
    """Validation (errors name the file), the article's cleaning rules, the rating-0 rows."""
    return Pipeline(
        [
            Node(
                clean_ratings,
                inputs={"users": "users_raw", "ratings": "ratings_raw", "books": "books_raw",
                        "params": "params:data_processing"},
                outputs=["cleaned_ratings", "cleaning_summary"],
                name="clean_ratings",
            ),
            Node(
                extract_implicit_interactions,
                inputs={"ratings": "ratings_raw", "books": "books_raw"},
                outputs="implicit_interactions",
                name="extract_implicit_interactions",
            ),
        ],
        tags=["data"],
    )
