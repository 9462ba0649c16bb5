"""Title embeddings (cached) and their PCA, then the train-fitted tables (item statistics,
vocabularies, scaling) and the model input of every split."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    assign_statistics_folds,
    build_feature_specs,
    build_model_input,
    build_train_model_input,
    count_item_statistics,
    fit_scaling,
    fit_title_pca,
    fit_vocabularies,
    list_titles,
    project_titles,
    update_title_embeddings,
)

PARAMS = "params:feature_engineering"
FITTED = {"title_components": "title_components@ibis", "statistics": "item_statistics@ibis",
          "priors": "statistics_priors@ibis", "vocabularies": "vocabularies@ibis",
          "scaling": "scaling_statistics@pandas", "params": PARAMS}


def create_pipeline(**kwargs) -> Pipeline:
    """Encode new titles, fit on train, then build the model input of each split."""
    return Pipeline(
        [
            Node(list_titles, inputs="cleaned_ratings@ibis", outputs="book_titles@ibis",
                 name="list_book_titles"),
            Node(list_titles, inputs="train_ratings@ibis", outputs="train_titles@ibis",
                 name="list_train_titles"),
            Node(
                update_title_embeddings,
                inputs={"titles": "book_titles@pandas", "cache": "title_embeddings_cached",
                        "params": PARAMS},
                outputs="title_embeddings",
                name="update_title_embeddings",
            ),
            Node(
                fit_title_pca,
                inputs={"train_titles": "train_titles@pandas",
                        "title_embeddings": "title_embeddings", "params": PARAMS},
                outputs="title_pca",
                name="fit_title_pca",
            ),
            Node(
                project_titles,
                inputs={"titles": "book_titles@pandas", "title_embeddings": "title_embeddings",
                        "pca": "title_pca", "params": PARAMS},
                outputs="title_components@pandas",
                name="project_titles",
            ),
            Node(
                assign_statistics_folds,
                inputs={"user_splits": "user_splits@pandas", "params": PARAMS},
                outputs="statistics_folds@pandas",
                name="assign_statistics_folds",
            ),
            Node(
                count_item_statistics,
                inputs={"train": "train_ratings@ibis", "implicit": "implicit_interactions@ibis",
                        "folds": "statistics_folds@ibis", "params": PARAMS},
                outputs=["item_statistics@ibis", "statistics_priors@ibis"],
                name="count_item_statistics",
            ),
            Node(fit_vocabularies, inputs={"train": "train_ratings@ibis", "params": PARAMS},
                 outputs="vocabularies@ibis", name="fit_vocabularies"),
            Node(
                fit_scaling,
                inputs={"train": "train_ratings@ibis",
                        "title_components": "title_components@ibis",
                        "statistics": "item_statistics@ibis", "priors": "statistics_priors@ibis",
                        "folds": "statistics_folds@ibis", "params": PARAMS},
                outputs="scaling_statistics@ibis",
                name="fit_scaling",
            ),
            Node(
                build_feature_specs,
                inputs={"vocabularies": "vocabularies@pandas",
                        "scaling": "scaling_statistics@pandas", "params": PARAMS},
                outputs="feature_specs",
                name="build_feature_specs",
            ),
            # Train rows take out-of-fold item statistics: never their own labels.
            Node(
                build_train_model_input,
                inputs={"ratings": "train_ratings@ibis", **FITTED, "folds": "statistics_folds@ibis"},
                outputs="model_input_train@ibis",
                name="build_model_input_train",
            ),
            *[
                Node(
                    build_model_input,
                    inputs={"ratings": f"{split}_ratings@ibis", **FITTED},
                    outputs=f"model_input_{split}@ibis",
                    name=f"build_model_input_{split}",
                )
                for split in ("valid", "test")
            ],
        ],
        tags=["features"],
    )
