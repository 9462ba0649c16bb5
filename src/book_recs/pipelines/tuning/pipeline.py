"""Optuna searches for FinalMLP and the CatBoost baselines, on the valid split only.

Run on request: `kedro run --pipeline tuning` (it is not part of the default run)."""

from kedro.pipeline import Node, Pipeline

from .nodes import tune_catboost_classifier, tune_catboost_ranker, tune_finalmlp

TUNING_INPUTS = {"train": "model_input_train@pandas", "valid": "model_input_valid@pandas", "specs": "feature_specs",
                 "storage": "optuna_storage"}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(tune_finalmlp,
                 inputs={**TUNING_INPUTS, "base_params": "params:finalmlp", "tuning": "params:tuning"},
                 outputs=["finalmlp_tuning_trials", "finalmlp_tuned_parameters"],
                 name="tune_finalmlp"),
            *[
                Node(function,
                     inputs={**TUNING_INPUTS, "base_params": f"params:{name}.model",
                             "tuning": "params:tuning"},
                     outputs=[f"{name}_tuning_trials", f"{name}_tuned_parameters"],
                     name=f"tune_{name}")
                for name, function in (("catboost_classifier", tune_catboost_classifier),
                                       ("catboost_ranker", tune_catboost_ranker))
            ],
        ],
        tags=["tuning"],
    )
