"""Read and validate the raw files, then the article's cleaning: one row per explicit rating, and
the implicit interactions apart. Ibis nodes: they run on the catalog's engine."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    clean_ratings,
    extract_implicit_interactions,
    summarize_cleaning,
    validate_books,
    validate_ratings,
    validate_users,
)

VALIDATORS = {"users": validate_users, "ratings": validate_ratings, "books": validate_books}


def create_pipeline(**kwargs) -> Pipeline:
    """Validation per file (each raw file read once), cleaning, implicit rows, one summary."""
    return Pipeline(
        [
            *[
                Node(validate, inputs=f"{table}_raw",
                     outputs=[f"validated_{table}@ibis", f"{table}_validation_counts@ibis"],
                     name=f"validate_{table}")
                for table, validate in VALIDATORS.items()
            ],
            Node(
                clean_ratings,
                inputs={"users": "validated_users@ibis", "ratings": "validated_ratings@ibis",
                        "books": "validated_books@ibis", "params": "params:data_processing"},
                outputs=["cleaned_ratings@ibis", "cleaning_counts@ibis"],
                name="clean_ratings",
            ),
            Node(
                extract_implicit_interactions,
                inputs={"ratings": "validated_ratings@ibis", "books": "validated_books@ibis"},
                outputs=["implicit_interactions@ibis", "implicit_counts@ibis"],
                name="extract_implicit_interactions",
            ),
            Node(
                summarize_cleaning,
                inputs=[*[f"{table}_validation_counts@pandas" for table in VALIDATORS],
                        "cleaning_counts@pandas", "implicit_counts@pandas"],
                outputs="cleaning_summary",
                name="summarize_cleaning",
            ),
        ],
        tags=["data"],
    )
