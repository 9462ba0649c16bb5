"""Title embeddings (cached), transformers fitted on train, model input for every split."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_feature_specs,
    build_model_input,
    fit_feature_transformer,
    update_title_embeddings,
)

SPLITS = ("train", "valid", "test")


def create_pipeline(**kwargs) -> Pipeline:
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
                fit_feature_transformer,
                inputs={"train": "train_ratings", "embeddings": "title_embeddings",
                        "params": "params:feature_engineering"},
                outputs="feature_transformer",
                name="fit_feature_transformer",
            ),
            Node(build_feature_specs, inputs="feature_transformer", outputs="feature_specs",
                 name="build_feature_specs"),
            *[
                Node(
                    build_model_input,
                    inputs={"ratings": f"{split}_ratings", "embeddings": "title_embeddings",
                            "transformer": "feature_transformer"},
                    outputs=f"model_input_{split}",
                    name=f"build_model_input_{split}",
                )
                for split in SPLITS
            ],
        ],
        tags=["features"],
    )
