"""Split the cleaned ratings by user into train / valid / test."""

from kedro.pipeline import Node, Pipeline

from .nodes import split_users


def create_pipeline(**kwargs) -> Pipeline:
    """One node: seeded split of the users, so no user is in two splits."""
    return Pipeline(
        [
            Node(
                split_users,
                inputs={"ratings": "cleaned_ratings", "params": "params:data_split"},
                outputs=["train_ratings", "valid_ratings", "test_ratings"],
                name="split_users",
            )
        ],
        tags=["data"],
    )
