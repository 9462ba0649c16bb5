"""Split the cleaned ratings by user into train / valid / test."""

from kedro.pipeline import Node, Pipeline

from .nodes import SPLITS, assign_users_to_splits, split_ratings


def create_pipeline(**kwargs) -> Pipeline:
    """A seeded draw of the users (pandas: one id per user), then their rows (Ibis)."""
    return Pipeline(
        [
            Node(
                assign_users_to_splits,
                inputs={"ratings": "cleaned_ratings@users", "params": "params:data_split"},
                outputs="user_splits@pandas",
                name="assign_users_to_splits",
            ),
            Node(
                split_ratings,
                inputs={"ratings": "cleaned_ratings@ibis", "user_splits": "user_splits@ibis"},
                outputs=[f"{split}_ratings@ibis" for split in SPLITS],
                name="split_ratings",
            ),
        ],
        tags=["data"],
    )
