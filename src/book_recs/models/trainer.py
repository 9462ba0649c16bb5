"""Training, scoring and explanation of FinalMLP: separate from the model, plain PyTorch.

Deterministic on CPU: the same data, parameters and seed give identical weights and predictions.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import log_loss, roc_auc_score
from torch import Tensor, nn
from tqdm.auto import tqdm

from book_recs.columns import LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.evaluation.metrics import SCORE, RankedScores, per_user_auc
from book_recs.models.data import batches, num_rows
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.losses import pairwise_ranking_loss

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """How FinalMLP is trained (defaults: FuxiCTR's FinalMLP configs)."""

    seed: int = 2021
    learning_rate: float = 1e-3
    batch_size: int = 4096
    epochs: int = 10
    early_stop_patience: int = 2
    embedding_l2: float = 0.0
    grad_clip_norm: float = 10.0
    lr_reduce_factor: float = 0.1
    lr_reduce_patience: int = 0
    min_learning_rate: float = 1e-6
    score_batch_size: int = 65536
    progress_bar: bool = True
    calibrate: bool = False
    # Batches of whole users (users shuffled, then their rows) instead of rows shuffled uniformly.
    user_grouped_batches: bool = False
    # > 0 adds this weight times a within-user pairwise ranking loss on the ratings to the BCE
    # (``losses.pairwise_ranking_loss``; batches are then user-grouped); 0 = BCE only.
    ranking_loss_weight: float = 0.0
    # > 1 trains this many models with seeds seed, seed + 1, ... and averages their logits
    # (``fit_ensemble``, a ``SeedEnsemble``); ``fit`` itself trains one model.
    ensemble_size: int = 1
    # One ranking_loss_weight per ensemble member (ensemble_size of them), in place of the shared
    # one: members trained with and without the ranking loss err differently, so their mean beats
    # five of either kind (finalmlp README, fifth round). None = every member uses ranking_loss_weight.
    member_ranking_loss_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.member_ranking_loss_weights is not None:
            weights = tuple(float(weight) for weight in self.member_ranking_loss_weights)
            if len(weights) != self.ensemble_size:
                raise ValueError(f"member_ranking_loss_weights has {len(weights)} weights for "
                                 f"ensemble_size={self.ensemble_size}; give one per member")
            object.__setattr__(self, "member_ranking_loss_weights", weights)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown training parameters {sorted(unknown)}; known: {sorted(known)}")
        return cls(**params)


def seed_everything(seed: int) -> None:
    """Seed torch and make CPU kernels deterministic."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


@torch.no_grad()
def predict_logits(model: nn.Module, tensors: dict[str, Tensor], batch_size: int = 65536) -> Tensor:
    """Logits (N,) for every row, in order, in eval mode."""
    model.eval()
    logits = [model(batch) for batch in batches(tensors, batch_size)]
    return torch.cat(logits) if logits else torch.zeros(0)


def predict(model: nn.Module, tensors: dict[str, Tensor], batch_size: int = 65536) -> np.ndarray:
    """Probabilities of label 1 for every row, in order, in eval mode."""
    return torch.sigmoid(predict_logits(model, tensors, batch_size)).double().numpy()


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """AUC and logloss (NaN AUC when only one class is present)."""
    auc = roc_auc_score(labels, probabilities) if len(np.unique(labels)) == 2 else float("nan")
    return {"auc": float(auc), "logloss": float(log_loss(labels, probabilities, labels=[0, 1]))}


def group_auc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """gAUC: the mean per-user AUC over users with both classes (NaN when there are none)."""
    # A score table as the evaluation expects it; per-user AUC never reads the rating column.
    per_user = per_user_auc(RankedScores(pd.DataFrame(
        {USER_COLUMN: users, RATING_COLUMN: labels, LABEL_COLUMN: labels, SCORE: scores})))
    return float(np.nanmean(per_user)) if np.isfinite(per_user).any() else float("nan")


def fit(
    model: FinalMLP,
    train: dict[str, Tensor],
    valid: dict[str, Tensor],
    config: TrainingConfig,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[FinalMLP, pd.DataFrame]:
    """Train with BCE (plus, with ``config.ranking_loss_weight``, a within-user pairwise ranking
    loss on user-grouped batches), Adam, embedding L2, gradient clipping, LR reduction on plateau and
    early stopping on valid AUC; return the model with its best weights and the per-epoch history.
    With ``config.calibrate``, then fit the model's Platt scaling on the valid logits (rankings,
    hence AUC, do not change; logloss does).

    Args:
        model: A freshly built model (build it after ``seed_everything`` for reproducibility).
        train, valid: Tensors from ``data.to_tensors`` (with ``label``; ``train`` also with
            ``user`` for user-grouped batches and ``rating`` for the ranking loss; ``valid``
            with ``user`` gives the valid gAUC of each epoch).
        config: The training configuration.
        on_epoch_end: Called with (epoch, history row) after each epoch; may raise to stop
            (e.g. an Optuna pruner).
    """
    if config.ensemble_size != 1 or config.member_ranking_loss_weights is not None:
        raise ValueError(f"fit trains one model; ensemble_size={config.ensemble_size} and "
                         f"member_ranking_loss_weights need fit_ensemble")
    ranking = config.ranking_loss_weight > 0
    grouped = ranking or config.user_grouped_batches
    missing = (({"user"} if grouped else set()) | ({"rating"} if ranking else set())) - train.keys()
    if missing:
        raise ValueError(f"user-grouped batches and the ranking loss need the train tensors "
                         f"{sorted(missing)} (to_tensors makes them from User-ID and Book-Rating)")
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=config.lr_reduce_factor,
        patience=config.lr_reduce_patience, min_lr=config.min_learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    valid_labels = valid["label"].numpy()
    best_auc, best_state, stale, history = -np.inf, copy.deepcopy(model.state_dict()), 0, []
    n_train = num_rows(train)

    for epoch in range(1, config.epochs + 1):
        model.train()
        start, total_loss = time.perf_counter(), 0.0
        steps = tqdm(batches(train, config.batch_size, generator, "user" if grouped else None),
                     total=-(-n_train // config.batch_size),
                     desc=f"epoch {epoch}", leave=False, disable=not config.progress_bar)
        for batch in steps:
            optimizer.zero_grad()
            logits = model(batch)
            loss = loss_fn(logits, batch["label"])
            total_loss += loss.item() * len(batch["label"])
            if ranking:
                loss = loss + config.ranking_loss_weight * pairwise_ranking_loss(
                    logits, batch["user"], batch["rating"])
            if config.embedding_l2:
                loss = loss + config.embedding_l2 / 2 * model.embedding_l2()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
            optimizer.step()
        seconds = time.perf_counter() - start
        valid_probabilities = predict(model, valid, config.score_batch_size)
        metrics = binary_metrics(valid_labels, valid_probabilities)
        row = {"epoch": epoch, "train_loss": total_loss / n_train, "valid_auc": metrics["auc"],
               "valid_logloss": metrics["logloss"],
               "valid_gauc": group_auc(valid["user"].numpy(), valid_labels, valid_probabilities)
               if "user" in valid else float("nan"),
               "lr": optimizer.param_groups[0]["lr"], "seconds": seconds, "rows_per_s": n_train / seconds}
        history.append(row)
        logger.info("epoch %d  BCE %.4f  valid AUC %.4f  logloss %.4f  gAUC %.4f  lr %.0e  %.1f s  "
                    "%.0f rows/s", epoch, row["train_loss"], row["valid_auc"], row["valid_logloss"],
                    row["valid_gauc"], row["lr"], seconds, row["rows_per_s"])
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        if metrics["auc"] > best_auc:
            best_auc, best_state, stale = metrics["auc"], copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= config.early_stop_patience:
                logger.info("early stop after epoch %d: best valid AUC %.4f", epoch, best_auc)
                break
        scheduler.step(metrics["auc"])

    model.load_state_dict(best_state)
    model.eval()
    if config.calibrate:
        calibrate(model, valid, config.score_batch_size)
    return model, pd.DataFrame(history)


def fit_ensemble(
    build_model: Callable[[], FinalMLP],
    train: dict[str, Tensor],
    valid: dict[str, Tensor],
    config: TrainingConfig,
) -> tuple[FinalMLP | SeedEnsemble, pd.DataFrame]:
    """``fit`` ``config.ensemble_size`` models built by ``build_model``, member ``i`` seeded with
    ``config.seed + i`` (and trained with ``config.member_ranking_loss_weights[i]`` when given);
    return the single model (size 1, identical to ``fit``) or their ``SeedEnsemble``, calibrated
    once on valid with ``config.calibrate``, and every member's history (columns ``member``,
    ``seed`` and ``ranking_loss_weight`` added)."""
    if config.ensemble_size < 1:
        raise ValueError(f"ensemble_size must be at least 1, got {config.ensemble_size}")
    weights = config.member_ranking_loss_weights or (config.ranking_loss_weight,) * config.ensemble_size
    members, histories = [], []
    for member, weight in enumerate(weights):
        member_config = replace(config, seed=config.seed + member, ensemble_size=1, calibrate=False,
                                ranking_loss_weight=weight, member_ranking_loss_weights=None)
        seed_everything(member_config.seed)
        model, history = fit(build_model(), train, valid, member_config)
        members.append(model)
        histories.append(history.assign(member=member, seed=member_config.seed,
                                        ranking_loss_weight=weight))
    model = members[0] if len(members) == 1 else SeedEnsemble(members)
    if len(members) > 1:
        metrics = binary_metrics(valid["label"].numpy(), predict(model, valid, config.score_batch_size))
        logger.info("ensemble of %d seeds: valid AUC %.4f (members %s)", len(members), metrics["auc"],
                    ", ".join(f"{history['valid_auc'].max():.4f}" for history in histories))
    if config.calibrate:
        calibrate(model, valid, config.score_batch_size)
    return model, pd.concat(histories, ignore_index=True)


def ensemble_members(model: FinalMLP | SeedEnsemble) -> list[FinalMLP]:
    """The FinalMLPs inside ``model``: its members, or the model itself."""
    return list(model.members) if isinstance(model, SeedEnsemble) else [model]


def calibrate(model: FinalMLP | SeedEnsemble, valid: dict[str, Tensor], batch_size: int = 65536) -> None:
    """Fit ``model.calibration`` (Platt scaling) on the held-out ``valid`` tensors, in place."""
    model.calibration.reset_parameters()
    labels = valid["label"].numpy()
    logits = predict_logits(model, valid, batch_size)
    model.calibration.fit(logits, valid["label"])
    # The calibrated probabilities follow from the same logits: no second pass over valid.
    before, after = (torch.sigmoid(values).double().numpy()
                     for values in (logits, model.calibration(logits)))
    logger.info("Platt scaling on valid: scale %.3f, bias %.3f, valid logloss %.4f -> %.4f",
                model.calibration.scale, model.calibration.bias,
                binary_metrics(labels, before)["logloss"], binary_metrics(labels, after)["logloss"])


@torch.no_grad()
def stream_contributions(model: FinalMLP | SeedEnsemble, tensors: dict[str, Tensor],
                         batch_size: int = 65536) -> pd.DataFrame:
    """Summed |b + w1·o1| (user stream) and |w2·o2| (item stream) over a data set: the article's
    Figure 8 (for an ensemble, the mean over its members). Computed on demand, nothing kept
    between calls."""
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64)
    members = ensemble_members(model)
    for member in members:
        for batch in batches(tensors, batch_size):
            o1, o2, _, _ = member.streams(batch)
            term1, term2 = member.fusion.linear_terms(o1, o2)
            totals += torch.stack([term1.abs().sum(), term2.abs().sum()]).double()
    totals /= len(members)
    share = totals / totals.sum() if totals.sum() > 0 else totals
    return pd.DataFrame({"stream": ["user", "item"], "contribution": totals.numpy(),
                         "share": share.numpy()})


@torch.no_grad()
def gate_means(model: FinalMLP | SeedEnsemble, tensors: dict[str, Tensor],
               batch_size: int = 65536) -> pd.DataFrame:
    """Mean gate value per field and stream (1 = neutral; > 1 selected; < 1 damped; for an
    ensemble, also over its members). Empty when the model has no gates."""
    model.eval()
    first = ensemble_members(model)[0]
    if first.gates is None:
        return pd.DataFrame({"stream": [], "field": [], "mean_gate": []})
    dim = first.embedding.embedding_dim
    sums, n = torch.zeros(2, len(first.field_names), dtype=torch.float64), 0
    for member in ensemble_members(model):
        for batch in batches(tensors, batch_size):
            _, _, gate1, gate2 = member.streams(batch)
            for stream, gate in enumerate((gate1, gate2)):
                sums[stream] += gate.view(gate.size(0), -1, dim).mean(-1).sum(0).double()
            n += len(gate1)
    means = (sums / max(n, 1)).numpy()
    return pd.DataFrame({
        "stream": np.repeat(["user", "item"], len(first.field_names)),
        "field": first.field_names * 2,
        "mean_gate": means.reshape(-1),
    })
