"""Training FinalMLP: the configuration, one model (``fit``) and a seed ensemble (``fit_ensemble``).

Plain PyTorch, separate from the model. What is reproducible:

- CPU, one process: the same data, parameters and seed give identical weights and predictions
  (``seed_everything`` turns on ``torch.use_deterministic_algorithms``).
- CPU, several processes (``torch.distributed`` with gloo): the same seed and number of processes
  give the same model; it is not bit-identical to the one-process model (each process's batch
  norm sees its own rows, dropout masks differ, gradients are averaged in another order).
- GPU (never run on a GPU in this project): cuBLAS and the atomics of ``index_add_`` and of the
  embedding backward make float sums order-dependent. ``seed_everything`` sets
  ``torch.use_deterministic_algorithms(True)``, which makes torch pick deterministic kernels or
  raise; cuBLAS additionally needs ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment
  (set here when absent). Even then a GPU model is not bit-identical to a CPU model, and bf16
  autocast makes every matmul round differently.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from book_recs.columns import RATING_COLUMN, USER_COLUMN
from book_recs.devices import resolve_device
from book_recs.models.calibration import calibrate
from book_recs.models.data import batches, model_columns, num_rows, to_device, to_tensors
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.feature_spec import FeatureSpec
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.inference import autocast, predict
from book_recs.models.losses import pairwise_ranking_loss
from book_recs.models.metrics import UserMetrics, binary_metrics
from book_recs.models.params import config_from_params
from book_recs.models.streaming import ParquetBatches, streamed_batches
from book_recs.numerics import PRECISIONS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """How FinalMLP is trained (defaults: FuxiCTR's FinalMLP configs)."""

    seed: int = 2021
    learning_rate: float = 1e-3
    # The global batch: with ``processes`` > 1 each process takes batch_size / processes rows.
    batch_size: int = 4096
    epochs: int = 10
    early_stop_patience: int = 2
    embedding_l2: float = 0.0
    grad_clip_norm: float = 10.0
    lr_reduce_factor: float = 0.1
    lr_reduce_patience: int = 0
    min_learning_rate: float = 1e-6
    # Rows per forward when scoring (valid each epoch, calibration, the scoring nodes).
    score_batch_size: int = 4096
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
    # auto (the GPU when torch sees one, else the CPU) | cpu | cuda | cuda:N (book_recs.devices).
    device: str = "auto"
    # auto | fp32 | bf16 (torch.autocast in bfloat16 for the forward passes of training and
    # scoring); auto is bf16 only with fast numerics on native-bf16 hardware (book_recs.numerics).
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # > 1: data-parallel training in this many processes (torch.distributed; models.distributed).
    processes: int = 1
    # memory (the whole train table as tensors) | stream (row groups through a shuffle buffer).
    data_loading: Literal["memory", "stream"] = "memory"
    # Rows the stream mode shuffles together (its peak memory is about one buffer).
    shuffle_buffer_rows: int = 131072

    def __post_init__(self) -> None:
        if self.member_ranking_loss_weights is not None:
            weights = tuple(float(weight) for weight in self.member_ranking_loss_weights)
            if len(weights) != self.ensemble_size:
                raise ValueError(f"member_ranking_loss_weights has {len(weights)} weights for "
                                 f"ensemble_size={self.ensemble_size}; give one per member")
            object.__setattr__(self, "member_ranking_loss_weights", weights)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.data_loading not in ("memory", "stream"):
            raise ValueError(f"data_loading must be 'memory' or 'stream', got {self.data_loading!r}")
        if self.processes < 1 or self.batch_size % self.processes:
            raise ValueError(f"batch_size={self.batch_size} must divide into processes={self.processes} "
                             f"equal local batches")
        if self.processes > 1 and self.data_loading == "stream":
            raise ValueError("data_loading='stream' runs in one process; use 'memory' with processes > 1")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingConfig:
        """The config of a parameters block (``params:<ns>.training``); unknown keys are refused."""
        return config_from_params(cls, params, "training")


TrainRows = dict[str, Tensor] | ParquetBatches
"""The train split: tensors (``data.to_tensors``) or a parquet file to read (``ParquetBatches``)."""


def seed_everything(seed: int) -> None:
    """Seed torch and numpy and make kernels deterministic (see the module docstring for GPUs)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def process_group() -> tuple[int, int]:
    """(rank, number of processes) of the running ``torch.distributed`` group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def training_device(config: TrainingConfig) -> torch.device:
    """``config.device``; in a process group a bare ``cuda`` becomes this process's GPU
    (``LOCAL_RANK`` under torchrun, the rank when spawned on one machine)."""
    device = resolve_device(config.device)
    rank, world = process_group()
    if world > 1 and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    return device


def _check_inputs(train: TrainRows, grouped: bool, ranking: bool) -> None:
    # A parquet file's User-ID and Book-Rating columns become the user and rating tensors.
    available = (set(train) if isinstance(train, dict)
                 else {{USER_COLUMN: "user", RATING_COLUMN: "rating"}.get(c, c) for c in train.columns})
    missing = (({"user"} if grouped else set()) | ({"rating"} if ranking else set())) - available
    if missing:
        raise ValueError(f"user-grouped batches and the ranking loss need the train tensors "
                         f"{sorted(missing)} (to_tensors makes them from User-ID and Book-Rating)")


def _resident_train(train: TrainRows, model: FinalMLP, config: TrainingConfig, device: torch.device,
                    ) -> TrainRows:
    """The train rows as training reads them: tensors on ``device`` (a ``ParquetBatches`` read
    whole in memory mode), or the ``ParquetBatches`` itself in stream mode."""
    if isinstance(train, ParquetBatches):
        if config.data_loading == "stream":
            return train
        train = to_tensors(train.read(model_columns(model.input_specs)), model.input_specs)
    elif config.data_loading == "stream":
        raise ValueError("data_loading='stream' reads a ParquetBatches, not tensors")
    return to_device(train, device)


def _epoch_batches(train: TrainRows, model: FinalMLP, config: TrainingConfig, *, generator: torch.Generator,
                   device: torch.device, grouped: bool) -> Iterator[dict[str, Tensor]]:
    rank, world = process_group()
    local_batch = config.batch_size // world
    if isinstance(train, ParquetBatches):
        return streamed_batches(train, model.input_specs, local_batch, buffer_rows=config.shuffle_buffer_rows,
                                generator=generator, device=device, user_grouped=grouped)
    return batches(train, local_batch, generator, "user" if grouped else None,
                   num_replicas=world, rank=rank)


def _train_epoch(network: nn.Module, model: FinalMLP, steps: Iterator[dict[str, Tensor]],
                 optimizer: torch.optim.Optimizer, config: TrainingConfig) -> float:
    """One pass over ``steps``; the mean BCE over the rows of every process."""
    device = next(model.parameters()).device
    loss_fn = nn.BCEWithLogitsLoss()
    # Loss sum and rows of this process (float64, on the device: no sync per step).
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    for batch in steps:
        optimizer.zero_grad()
        with autocast(device, config.precision):
            logits = network(batch).float()
        loss = loss_fn(logits, batch["label"])
        totals += torch.stack([loss.detach().double() * len(logits),
                               torch.tensor(len(logits), dtype=torch.float64, device=device)])
        if config.ranking_loss_weight > 0:
            loss = loss + config.ranking_loss_weight * pairwise_ranking_loss(
                logits, batch["user"], batch["rating"])
        if config.embedding_l2:
            loss = loss + config.embedding_l2 / 2 * model.embedding_l2()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        optimizer.step()
    if process_group()[1] > 1:
        dist.all_reduce(totals)
    return float(totals[0] / totals[1])


def _valid_metrics(model: nn.Module, valid: dict[str, Tensor], config: TrainingConfig,
                   user_metrics: UserMetrics | None) -> dict[str, float]:
    """valid_auc, valid_logloss and, with ``user_metrics`` and users, valid_<name> of each:
    computed by process 0 and sent to the others, so that all stop at the same epoch."""
    rank, world = process_group()
    row = None
    if rank == 0:
        probabilities = predict(model, valid, config.score_batch_size, config.precision)
        labels = valid["label"].cpu().numpy()
        row = {f"valid_{name}": value for name, value in binary_metrics(labels, probabilities).items()}
        if user_metrics is not None and "user" in valid:
            row.update({f"valid_{name}": value for name, value in
                        user_metrics(valid["user"].cpu().numpy(), labels, probabilities).items()})
    if world > 1:
        shared = [row]
        dist.broadcast_object_list(shared, src=0)
        row = shared[0]
    return row


def _log_epoch(row: dict[str, Any]) -> None:
    others = "".join(f"{name.removeprefix('valid_')} {value:.4f}  " for name, value in row.items()
                     if name.startswith("valid_") and name not in ("valid_auc", "valid_logloss"))
    logger.info("epoch %d  BCE %.4f  valid AUC %.4f  logloss %.4f  %slr %.0e  %.1f s  %.0f rows/s",
                row["epoch"], row["train_loss"], row["valid_auc"], row["valid_logloss"], others,
                row["lr"], row["seconds"], row["rows_per_s"])


def fit(
    model: FinalMLP,
    train: TrainRows,
    valid: dict[str, Tensor],
    config: TrainingConfig,
    *,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    user_metrics: UserMetrics | None = None,
) -> tuple[FinalMLP, pd.DataFrame]:
    """Train with BCE (plus, with ``config.ranking_loss_weight``, a within-user pairwise ranking
    loss on user-grouped batches), Adam, embedding L2, gradient clipping, LR reduction on plateau and
    early stopping on valid AUC; return the model (on the CPU, in eval mode) with its best weights
    and the per-epoch history. With ``config.calibrate``, then fit the model's Platt scaling on the
    valid logits (rankings, hence AUC, do not change; logloss does).

    Inside a ``torch.distributed`` process group (``models.distributed`` starts one, or torchrun)
    the model trains as ``DistributedDataParallel``: each process takes its share of every
    global batch; process 0 alone scores valid and tells the others its metrics, so that every
    process stops and lowers its learning rate at the same epoch; process 0's model is the result.

    Args:
        model: A freshly built model (build it after ``seed_everything`` for reproducibility).
        train: Tensors from ``data.to_tensors(frame, model.input_specs)`` or a ``ParquetBatches``
            (read whole with ``data_loading="memory"``, streamed with ``"stream"``); with ``user``
            for user-grouped batches and ``rating`` for the ranking loss.
        valid: Tensors with ``label`` (and ``user`` for the per-user metrics).
        config: The training configuration.
        on_epoch_end: Called with (epoch, history row) after each epoch; may raise to stop
            (e.g. an Optuna pruner).
        user_metrics: Per-user metrics of the valid scores for the history (e.g. gAUC).
    """
    if config.ensemble_size != 1 or config.member_ranking_loss_weights is not None:
        raise ValueError(f"fit trains one model; ensemble_size={config.ensemble_size} and "
                         f"member_ranking_loss_weights need fit_ensemble")
    grouped = config.ranking_loss_weight > 0 or config.user_grouped_batches
    _check_inputs(train, grouped, config.ranking_loss_weight > 0)
    rank, world = process_group()
    device = training_device(config)
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    train = _resident_train(train, model.to(device), config, device)
    valid = to_device(valid, device)
    network: nn.Module = model
    if world > 1:
        network = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        torch.manual_seed(config.seed + rank)  # each process its own dropout masks
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=config.lr_reduce_factor,
        patience=config.lr_reduce_patience, min_lr=config.min_learning_rate)
    # Process 0 keeps the best weights (at first, the initial ones: a NaN AUC never improves).
    best_auc, stale, history = -np.inf, 0, []
    best_state = copy.deepcopy(model.state_dict()) if rank == 0 else None
    n_train = train.num_rows if isinstance(train, ParquetBatches) else num_rows(train)

    for epoch in range(1, config.epochs + 1):
        model.train()
        start = time.perf_counter()
        steps = tqdm(_epoch_batches(train, model, config, generator=generator, device=device, grouped=grouped),
                     total=-(-n_train // config.batch_size), desc=f"epoch {epoch}", leave=False,
                     disable=not config.progress_bar or rank != 0)
        train_loss = _train_epoch(network, model, steps, optimizer, config)
        seconds = time.perf_counter() - start
        row = {"epoch": epoch, "train_loss": train_loss, **_valid_metrics(model, valid, config, user_metrics),
               "lr": optimizer.param_groups[0]["lr"], "seconds": seconds, "rows_per_s": n_train / seconds}
        history.append(row)
        _log_epoch(row)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
        if row["valid_auc"] > best_auc:
            best_auc, stale = row["valid_auc"], 0
            if rank == 0:
                best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.early_stop_patience:
                logger.info("early stop after epoch %d: best valid AUC %.4f", epoch, best_auc)
                break
        scheduler.step(row["valid_auc"])

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if config.calibrate and rank == 0:
        calibrate(model, valid, config.score_batch_size)
    return model.cpu(), pd.DataFrame(history)


def fit_ensemble(
    specs: Sequence[FeatureSpec],
    model_config: FinalMLPConfig,
    train: TrainRows,
    valid: dict[str, Tensor],
    config: TrainingConfig,
    *,
    user_metrics: UserMetrics | None = None,
) -> tuple[FinalMLP | SeedEnsemble, pd.DataFrame]:
    """``fit`` ``config.ensemble_size`` FinalMLPs of ``model_config``, member ``i`` built and
    trained with seed ``config.seed + i`` (and ``config.member_ranking_loss_weights[i]`` when
    given); return the single model (size 1, identical to ``fit``) or their ``SeedEnsemble``,
    calibrated once on valid with ``config.calibrate``, and every member's history (columns
    ``member``, ``seed`` and ``ranking_loss_weight`` added)."""
    if config.ensemble_size < 1:
        raise ValueError(f"ensemble_size must be at least 1, got {config.ensemble_size}")
    weights = config.member_ranking_loss_weights or (config.ranking_loss_weight,) * config.ensemble_size
    members, histories = [], []
    for member, weight in enumerate(weights):
        member_config = replace(config, seed=config.seed + member, ensemble_size=1, calibrate=False,
                                ranking_loss_weight=weight, member_ranking_loss_weights=None)
        seed_everything(member_config.seed)
        model, history = fit(FinalMLP(specs, model_config), train, valid, member_config,
                             user_metrics=user_metrics)
        members.append(model)
        histories.append(history.assign(member=member, seed=member_config.seed,
                                        ranking_loss_weight=weight))
    model = members[0] if len(members) == 1 else SeedEnsemble(members)
    if process_group()[0] == 0:
        if len(members) > 1:
            metrics = binary_metrics(valid["label"].cpu().numpy(),
                                     predict(model, valid, config.score_batch_size, config.precision))
            logger.info("ensemble of %d seeds: valid AUC %.4f (members %s)", len(members), metrics["auc"],
                        ", ".join(f"{history['valid_auc'].max():.4f}" for history in histories))
        if config.calibrate:
            calibrate(model, valid, config.score_batch_size)
    return model, pd.concat(histories, ignore_index=True)
