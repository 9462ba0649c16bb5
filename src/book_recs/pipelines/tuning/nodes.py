"""Hyperparameter search with Optuna on the VALID split only (TPE, seeded, median pruning).

The test split never reaches these nodes: the pipeline's inputs are the train and valid model
input only (a test checks it). The studies live in the catalog's ``optuna_storage``, which Optuna
writes each trial to as it finishes, so a rerun resumes them.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import roc_auc_score

from book_recs.baselines import catboost_models
from book_recs.baselines.catboost_models import CatBoostConfig
from book_recs.columns import LABEL_COLUMN, USER_COLUMN
from book_recs.evaluation import average_auc, group_auc
from book_recs.models.data import to_tensors
from book_recs.models.feature_spec import FeatureSpec
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.training import TrainingConfig, fit, seed_everything

logger = logging.getLogger(__name__)

# What a CatBoost search can maximise on valid: f(users, labels, scores), each computed as the
# evaluation reports it. Rankings only, so all suit the ranker, whose relevances are not
# probabilities (hence no logloss).
VALID_METRICS = {
    "auc": lambda users, labels, scores: roc_auc_score(labels, scores),
    "gauc": group_auc,       # per-user AUC weighted by the user's rows (FuxiCTR's gAUC)
    "avgauc": average_auc,   # plain mean of the per-user AUCs (FuxiCTR's avgAUC)
}


def suggest(trial: optuna.Trial, name: str, space: dict[str, Any]) -> Any:
    """One value from a search-space entry: ``{choices: [...]}``, ``{low, high, log}`` (float) or
    ``{low, high, int: true}``."""
    if "choices" in space:
        choices = space["choices"]
        # Optuna stores categorical choices by index when they are lists.
        index = trial.suggest_categorical(name, list(range(len(choices))))
        return copy.deepcopy(choices[index])
    if space.get("int"):
        return trial.suggest_int(name, space["low"], space["high"], log=space.get("log", False))
    return trial.suggest_float(name, space["low"], space["high"], log=space.get("log", False))


def apply_trial(trial: optuna.Trial, base: dict[str, Any], space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``base`` parameters with every ``section.key`` of ``space`` replaced by a suggestion."""
    params = copy.deepcopy(base)
    for dotted, entry in space.items():
        section, key = dotted.split(".", 1)
        params[section][key] = suggest(trial, dotted, entry)
    return params


def make_study(tuning: dict[str, Any], storage: optuna.storages.BaseStorage, name: str,
               objective: str = "auc") -> optuna.Study:
    """A seeded TPE study maximising valid ``objective`` with a median pruner, resumed from
    ``storage`` when it holds it (one study per model and objective, so values never mix)."""
    study = optuna.create_study(
        study_name=f"{tuning['study_name']}-{name}-{objective}", storage=storage,
        load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=tuning["seed"]),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=tuning["pruner_startup_trials"],
                                           n_warmup_steps=tuning["pruner_warmup_epochs"]),
    )
    study.set_user_attr("objective", objective)
    return study


def trials_table(study: optuna.Study, space: dict[str, Any]) -> pd.DataFrame:
    """One row per trial: number, state, the valid objective (column ``valid_<objective>``),
    seconds and the chosen parameter values."""
    rows = []
    for trial in study.trials:
        row = {"trial": trial.number, "state": trial.state.name,
               f"valid_{study.user_attrs['objective']}": trial.value,
               "seconds": trial.user_attrs.get("seconds"),
               # the epoch (FinalMLP) or tree count (CatBoost) early stopping kept
               "best_step": trial.user_attrs.get("best_epoch", trial.user_attrs.get("best_iteration"))}
        for name, value in trial.params.items():
            entry = space.get(name, {})
            row[name] = str(entry["choices"][value]) if "choices" in entry else value
        rows.append(row)
    return pd.DataFrame(rows)


def tune_finalmlp(
    train: pd.DataFrame, valid: pd.DataFrame, specs: list[FeatureSpec],
    base_params: dict[str, Any], tuning: dict[str, Any], storage: optuna.storages.BaseStorage,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Search FinalMLP's space on valid AUC in a study of ``storage``; return the trials and the
    best parameters in the layout of a parameters file (``{finalmlp: {model, training}}``), ready
    to become a preset."""
    space = tuning["finalmlp_space"]

    def objective(trial: optuna.Trial) -> float:
        params = apply_trial(trial, base_params, space)
        params["training"]["epochs"] = tuning["max_epochs"]
        params["training"]["progress_bar"] = False
        # Trials compare single models.
        params["training"].update(ensemble_size=1, member_ranking_loss_weights=None)
        config = TrainingConfig.from_params(params["training"])
        seed_everything(config.seed)
        try:
            model = FinalMLP(specs, FinalMLPConfig.from_params(params["model"]))
        except ValueError as error:  # e.g. widths that do not divide by the heads
            raise optuna.TrialPruned(str(error)) from error
        train_tensors, valid_tensors = (to_tensors(frame, model.input_specs) for frame in (train, valid))

        def report(epoch: int, row: dict[str, float]) -> None:
            trial.report(row["valid_auc"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        start = time.perf_counter()
        model, history = fit(model, train_tensors, valid_tensors, config, on_epoch_end=report)
        trial.set_user_attr("seconds", time.perf_counter() - start)
        trial.set_user_attr("best_epoch", int(history["valid_auc"].idxmax()) + 1)
        return float(history["valid_auc"].max())

    study = make_study(tuning, storage, "finalmlp")
    study.optimize(objective, n_trials=tuning["n_trials"], timeout=tuning["timeout_seconds"],
                   callbacks=[log_trial])
    best = apply_trial(optuna.trial.FixedTrial(study.best_trial.params), base_params, space)
    logger.info("best FinalMLP trial %d: valid AUC %.4f", study.best_trial.number, study.best_value)
    return trials_table(study, space), {"finalmlp": best}


def tune_catboost(
    train: pd.DataFrame, valid: pd.DataFrame, specs: list[FeatureSpec],
    base_params: dict[str, Any], tuning: dict[str, Any], storage: optuna.storages.BaseStorage,
    name: str,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The same budget for a CatBoost baseline (``name``: catboost_classifier or catboost_ranker),
    each maximising the valid metric it is compared on, ``tuning["catboost_objectives"][name]``:
    ``auc`` (pooled), ``gauc`` or ``avgauc`` (per-user AUC weighted by rows or not: what a ranker
    is for). ``base_params`` must be a valid ``CatBoostConfig``; every trial's parameters too."""
    space = tuning["catboost_space"]
    ranker = name == "catboost_ranker"
    CatBoostConfig.from_params(base_params)  # a wrong key fails here, not in trial 1
    # An override that drops the entry gets this error too, not a bare KeyError.
    metric = tuning.get("catboost_objectives", {}).get(name)
    if metric not in VALID_METRICS:
        raise ValueError(f"tuning.catboost_objectives.{name} must be one of {sorted(VALID_METRICS)}, "
                         f"got {metric!r}")
    labels, users = valid[LABEL_COLUMN].to_numpy(), valid[USER_COLUMN].to_numpy()

    def objective(trial: optuna.Trial) -> float:
        params = apply_trial(trial, {"model": base_params}, space)["model"]
        config = CatBoostConfig.from_params(params)
        model, summary = catboost_models.fit_catboost(train, valid, specs, config, ranker=ranker)
        trial.set_user_attr("seconds", summary["seconds"])
        trial.set_user_attr("best_iteration", summary["best_iteration"])
        scores = catboost_models.score_catboost(model, valid, specs)
        return float(VALID_METRICS[metric](users, labels, scores))

    study = make_study(tuning, storage, name, metric)
    study.optimize(objective, n_trials=tuning["catboost_trials"], timeout=tuning["timeout_seconds"],
                   callbacks=[log_trial])
    best = apply_trial(optuna.trial.FixedTrial(study.best_trial.params), {"model": base_params}, space)
    logger.info("best %s trial %d: valid %s %.4f", name, study.best_trial.number, metric,
                study.best_value)
    return trials_table(study, space), {name: best}


def tune_catboost_classifier(train: pd.DataFrame, valid: pd.DataFrame, specs: list[FeatureSpec],
                             base_params: dict[str, Any], tuning: dict[str, Any],
                             storage: optuna.storages.BaseStorage):
    """``tune_catboost`` for the CatBoost classifier."""
    return tune_catboost(train, valid, specs, base_params, tuning, storage, "catboost_classifier")


def tune_catboost_ranker(train: pd.DataFrame, valid: pd.DataFrame, specs: list[FeatureSpec],
                         base_params: dict[str, Any], tuning: dict[str, Any],
                         storage: optuna.storages.BaseStorage):
    """``tune_catboost`` for the CatBoost ranker."""
    return tune_catboost(train, valid, specs, base_params, tuning, storage, "catboost_ranker")


def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    logger.info("trial %d %s: valid %s %s (best %.4f)", trial.number, trial.state.name,
                study.user_attrs["objective"],
                "-" if trial.value is None else f"{trial.value:.4f}",
                study.best_value if any(t.value is not None for t in study.trials) else np.nan)
