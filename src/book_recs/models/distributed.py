"""Data-parallel training in several processes of one machine: ``torch.distributed``, started
here with ``torch.multiprocessing.start_processes`` (forkserver, or spawn where there is none).

``train_models`` is what the Kedro node calls: with ``processes: 1`` it is ``fit_ensemble``; with
more it starts that many processes (gloo on the CPU, nccl with one GPU per process), each runs
``fit_ensemble`` as ``DistributedDataParallel`` on its share of every global batch, and process 0
hands the model back through a temporary file. The train tensors reach the processes through
shared memory (torch's multiprocessing pickler), not as copies.

Several machines: start the processes with ``torchrun`` instead (one per GPU on every node), have
each call ``torch.distributed.init_process_group("nccl")`` and then ``fit_ensemble`` (or ``fit``):
the trainer trains data-parallel inside any initialised process group and only process 0 returns
the model worth saving. See the finalmlp pipeline README.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
import torch.multiprocessing

from book_recs.devices import resolve_device
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.feature_spec import FeatureSpec
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.metrics import UserMetrics
from book_recs.models.training import TrainingConfig, TrainRows, fit_ensemble


def train_models(
    specs: Sequence[FeatureSpec],
    model_config: FinalMLPConfig,
    train: TrainRows,
    valid: dict[str, torch.Tensor],
    config: TrainingConfig,
    *,
    user_metrics: UserMetrics | None = None,
) -> tuple[FinalMLP | SeedEnsemble, pd.DataFrame]:
    """``fit_ensemble`` in ``config.processes`` processes (see the module docstring); the same
    seed and number of processes give the same model."""
    if config.processes == 1:
        return fit_ensemble(specs, model_config, train, valid, config, user_metrics=user_metrics)
    device = resolve_device(config.device)
    if device.type == "cuda" and torch.cuda.device_count() < config.processes:
        raise ValueError(f"processes={config.processes} with one GPU each, but torch sees "
                         f"{torch.cuda.device_count()} GPUs")
    backend = "nccl" if device.type == "cuda" else "gloo"
    # forkserver (not on Windows): one server process imports torch, this module and torch._dynamo
    # (which DistributedDataParallel's constructor imports) once and forks every training process
    # from it; spawn would import them again in each (seconds apiece), and a plain fork is unsafe
    # once the parent's OpenMP threads have started.
    start_method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    multiprocessing.set_forkserver_preload([__name__, "torch._dynamo"])
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "model.pkl"
        torch.multiprocessing.start_processes(
            _train_process, nprocs=config.processes, join=True, start_method=start_method,
            args=(config.processes, backend, _free_port(), torch.get_num_threads(), result,
                  (specs, model_config, train, valid, config), user_metrics))
        return pickle.loads(result.read_bytes())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train_process(rank: int, world: int, backend: str, port: int, threads: int,  # noqa: PLR0917
                   result: Path, fit_arguments: tuple, user_metrics: UserMetrics | None) -> None:
    """One training process: join the group, train, and (process 0) write the result."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank))
    torch.set_num_threads(max(1, threads // world))  # the cores are shared among the processes
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        model, history = fit_ensemble(*fit_arguments, user_metrics=user_metrics)
        if rank == 0:
            result.write_bytes(pickle.dumps((model, history)))
    finally:
        dist.destroy_process_group()
