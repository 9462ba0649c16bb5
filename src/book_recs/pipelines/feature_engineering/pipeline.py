"""Title embeddings (cached), transformers fitted on train, model input for every split."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_feature_specs,
    build_model_input,
    build_train_model_input,
    fit_feature_transformers,
    update_title_embeddings,
)

SPLITS = ("train", "valid", "test")


def create_pipeline(**kwargs) -> Pipeline:
    """Encode new titles, fit on train, then build the model input of each split."""
    return Pipeline(
        [
            Node(
                update_title_embeddings,
                inputs={"ratings": "cleaned_ratings", "cache": "title_embeddings_cached",
                        "params": "params:feature_engineering"},
                outputs="title_embeddings",
                name="update_title_embeddings",
            ),
            Node(
                fit_feature_transformers,
                inputs={"train": "train_ratings", "implicit": "implicit_interactions",
                        "title_embeddings": "title_embeddings",
                        "params": "params:feature_engineering"},
                outputs="feature_transformers",
                name="fit_feature_transformers",
            ),
            Node(
                build_feature_specs,
                inputs={"transformers": "feature_transformers",
                        "params": "params:feature_engineering"},
                outputs="feature_specs",
                name="build_feature_specs",
            ),
            *[
                # Train rows take out-of-fold item statistics: never their own labels.
                Node(
                    build_train_model_input if split == "train" else build_model_input,
                    inputs={"ratings": f"{split}_ratings", "title_embeddings": "title_embeddings",
                            "transformers": "feature_transformers"},
                    outputs=f"model_input_{split}",
                    name=f"build_model_input_{split}",
                )
                for split in SPLITS
            ],
        ],
        tags=["features"],
    )
