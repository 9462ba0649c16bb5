"""The tuning pipeline never sees the test split, and its search runs, prunes and resumes."""

import numpy as np
import pandas as pd
import pytest

from book_recs.baselines.catboost_models import fit_catboost, score_catboost
from book_recs.models.feature_spec import FeatureSpec
from book_recs.pipelines.tuning import create_pipeline
from book_recs.pipelines.finalmlp.nodes import valid_user_aucs
from book_recs.pipelines.tuning.nodes import tune_catboost_ranker, tune_finalmlp


def test_tuning_inputs_exclude_the_test_split():
    inputs = create_pipeline().inputs()
    assert not any("test" in name for name in inputs), inputs
    assert {"model_input_train", "model_input_valid", "feature_specs"} <= inputs


def tiny_split(rng: np.random.Generator, n: int) -> pd.DataFrame:
    author = rng.integers(1, 6, n)
    return pd.DataFrame({
        "User-ID": rng.integers(0, 50, n), "ISBN": [f"b{i}" for i in range(n)],
        "Book-Rating": rng.integers(1, 11, n), "label": (author > 3).astype(int),
        "Age": rng.random(n).astype(np.float32), "Book-Author": author,
    })


@pytest.fixture
def tuning_params(tmp_path):
    return {
        "seed": 1, "study_name": "t", "storage": f"sqlite:///{tmp_path / 'tuning.db'}",
        "n_trials": 3, "timeout_seconds": 60, "max_epochs": 2,
        "pruner_startup_trials": 1, "pruner_warmup_epochs": 0,
        "finalmlp_space": {"model.embedding_dim": {"choices": [4, 8]},
                           "training.learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}},
    }


def test_tune_finalmlp_returns_trials_and_best_parameters_and_resumes(tuning_params):
    rng = np.random.default_rng(0)
    specs = [FeatureSpec("Age", "numeric", context="user"), FeatureSpec("Book-Author", "categorical", 6)]
    base = {"model": {"embedding_dim": 4, "mlp1_hidden_units": [8], "mlp2_hidden_units": [8],
                      "fs_hidden_units": [8], "num_heads": 2},
            "training": {"seed": 1, "batch_size": 64, "epochs": 1, "early_stop_patience": 2}}
    train, valid = tiny_split(rng, 300), tiny_split(rng, 100)
    trials, tuned = tune_finalmlp(train, valid, specs, base, tuning_params)
    best = tuned["finalmlp"]
    assert len(trials) == 3
    assert best["model"]["embedding_dim"] in (4, 8)
    assert 1e-3 <= best["training"]["learning_rate"] <= 1e-2
    assert best["model"]["mlp1_hidden_units"] == [8]  # untouched keys keep the base value
    trials_again, _ = tune_finalmlp(train, valid, specs, base, tuning_params)
    assert len(trials_again) == 6  # the study resumed from its storage


RANKER_SPECS = [FeatureSpec("Age", "numeric", context="user"),
                FeatureSpec("Book-Author", "categorical", 6)]
RANKER_BASE = {"iterations": 20, "learning_rate": 0.3, "depth": 3, "l2_leaf_reg": 3.0,
               "thread_count": 1, "random_seed": 0, "early_stopping_rounds": 10, "log_every": 0,
               "eval_metric": "NDCG:top=10;type=Base"}


def ranker_tuning_params(tuning_params, objective):
    return {**tuning_params, "catboost_trials": 2,
            "catboost_space": {"model.depth": {"low": 2, "high": 4, "int": True}},
            "catboost_objectives": {"catboost_ranker": objective}}


def test_tune_catboost_ranker_maximises_the_valid_gauc_of_its_relevances(tuning_params):
    """The ranker's relevances are not probabilities; it is chosen on the per-user AUC it is
    compared on."""
    rng = np.random.default_rng(1)
    train, valid = tiny_split(rng, 300), tiny_split(rng, 100)
    trials, tuned = tune_catboost_ranker(train, valid, RANKER_SPECS, RANKER_BASE,
                                         ranker_tuning_params(tuning_params, "gauc"))
    assert trials["state"].tolist() == ["COMPLETE", "COMPLETE"]
    assert trials["seconds"].gt(0).all() and trials["best_step"].ge(0).all()
    best = tuned["catboost_ranker"]["model"]
    assert 2 <= best["depth"] <= 4
    model, _ = fit_catboost(train, valid, RANKER_SPECS, best, ranker=True)
    expected = valid_user_aucs(valid["User-ID"].to_numpy(), valid["label"].to_numpy(),
                               score_catboost(model, valid, RANKER_SPECS))["avgauc"]
    assert trials["valid_gauc"].max() == pytest.approx(expected)


@pytest.mark.parametrize("objectives", [{"catboost_ranker": "logloss"}, {}],
                         ids=["unknown", "missing"])
def test_tune_catboost_refuses_an_unknown_or_missing_objective(tuning_params, objectives):
    rng = np.random.default_rng(1)
    params = {**ranker_tuning_params(tuning_params, None), "catboost_objectives": objectives}
    with pytest.raises(ValueError, match="catboost_objectives.catboost_ranker"):
        tune_catboost_ranker(tiny_split(rng, 300), tiny_split(rng, 100), RANKER_SPECS, RANKER_BASE,
                             params)
