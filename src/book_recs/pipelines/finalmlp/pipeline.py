"""FinalMLP and its DualMLP ablation: one template, two namespaces."""

from kedro.pipeline import Node, Pipeline

from book_recs.model_registry import SHARED_INPUTS, trained_by

from .nodes import explain_model, score_model, train_model

MODELS = tuple(model.name for model in trained_by("finalmlp"))


def create_template() -> Pipeline:
    """Train, score (valid, test) and explain one model; params ``model`` and ``training``.

    Training reads the train split through a lazy parquet reader (``model_input_train@batches``):
    whole with ``training.data_loading: memory``, a row group at a time with ``stream``.
    """
    return Pipeline([
        Node(
            train_model,
            inputs={"train": "model_input_train@batches", "valid": "model_input_valid@pandas",
                    "specs": "feature_specs", "model_params": "params:model",
                    "training_params": "params:training"},
            outputs=["model", "training_history"],
            name="train_model",
            tags=["training"],
        ),
        *[
            Node(
                score_model,
                inputs={"model": "model", "model_input": f"model_input_{split}@pandas",
                        "training_params": "params:training"},
                outputs=f"scores_{split}",
                name=f"score_{split}",
                tags=["scoring"],
            )
            for split in ("valid", "test")
        ],
        Node(
            explain_model,
            inputs={"model": "model", "model_input": "model_input_test@pandas",
                    "training_params": "params:training"},
            outputs=["stream_contributions", "gate_means"],
            name="explain_model",
            tags=["evaluation"],
        ),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    template = create_template()
    return sum(
        (Pipeline(template, namespace=name, inputs=SHARED_INPUTS & template.inputs()) for name in MODELS),
        Pipeline([]),
    )
