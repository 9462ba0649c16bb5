"""FinalMLP training on the real model input: valid metrics, seconds per epoch and peak memory of one
configuration over several seeds (and the same models scored in bfloat16). VALID split only (the test
split is never read).

Reads ``<data_dir>/05_model_input/`` of a preset (run the data_processing, data_split and
feature_engineering pipelines of that preset first) and the preset's parameters; ``--set`` changes
any of them. Each seed trains a single model (no ensemble; ranking-loss weight 0, so the tuned
preset's first member), calibrated when the preset calibrates.

    python benchmarks/finalmlp_training.py --env tuned --seeds 2021 2022 2023
    python benchmarks/finalmlp_training.py --env tuned --set training.precision=bf16
    python benchmarks/finalmlp_training.py --env tuned --set training.processes=2
    python benchmarks/finalmlp_training.py --env tuned --repeat-train 4 --set training.data_loading=stream

``--repeat-train N`` trains on N copies of the train rows (a synthetic larger table) to see how
memory grows with rows; ``--row-group-size R`` (122,880, DuckDB's row group, whenever N > 1) rewrites
the train table with row groups of R rows to a temporary file first (a file written by pandas is one
row group and streams as one block; the pipeline's DuckDB writes groups of 122,880 rows). The
trainer's per-epoch log lines are printed; the torch threads are torch's default (``OMP_NUM_THREADS``).
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import dataclasses
import json
import logging
import pickle
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import torch
import yaml
from finalmlp_speed import parameters  # benchmarks/: the preset's parameters, --set applied

from book_recs.models.data import model_columns, to_tensors
from book_recs.models.distributed import train_models
from book_recs.models.feature_spec import drop_fields
from book_recs.models.finalmlp import FinalMLPConfig
from book_recs.models.inference import predict
from book_recs.models.metrics import binary_metrics
from book_recs.models.streaming import ParquetBatches
from book_recs.models.training import TrainingConfig
from book_recs.pipelines.finalmlp.nodes import valid_user_aucs

PROJECT_PATH = Path(__file__).resolve().parents[1]
DUCKDB_ROW_GROUP_ROWS = 122_880  # DuckDB's default ROW_GROUP_SIZE


def data_dir(env: str) -> Path:
    globals_file = PROJECT_PATH / f"conf/{env}/globals.yml"
    source = globals_file if globals_file.exists() else PROJECT_PATH / "conf/base/globals.yml"
    return PROJECT_PATH / yaml.safe_load(source.read_text())["data_dir"] / "05_model_input"


def repeated(path: Path, copies: int, row_group_size: int, folder: Path) -> Path:
    """``copies`` copies of the table at ``path``, written with row groups of ``row_group_size``,
    a batch at a time (the copy must not weigh on the peak memory it helps to measure)."""
    source = pq.ParquetFile(path)
    target = folder / f"{path.stem}_x{copies}.parquet"
    with pq.ParquetWriter(target, source.schema_arrow) as writer:
        for _ in range(copies):
            for batch in source.iter_batches(batch_size=row_group_size):
                writer.write_batch(batch, row_group_size=row_group_size)
    return target


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child, in MB."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="tuned")
    parser.add_argument("--model", default="finalmlp", choices=["finalmlp", "dualmlp"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--repeat-train", type=int, default=1)
    parser.add_argument("--row-group-size", type=int)
    parser.add_argument("--save-model", type=Path, help="pickle the first seed's model here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    params = parameters(args.env, args.model, args.set)
    model_config = FinalMLPConfig.from_params(params["model"])
    folder = data_dir(args.env)
    specs = pickle.loads((folder / "feature_specs.pkl").read_bytes())
    input_specs = drop_fields(specs, model_config.exclude_fields)
    valid_frame = pd.read_parquet(folder / "model_input_valid.parquet", columns=model_columns(input_specs))
    valid = to_tensors(valid_frame, input_specs)
    labels, users = valid_frame["label"].to_numpy(), valid_frame["User-ID"].to_numpy()
    with tempfile.TemporaryDirectory() as scratch:
        train_path = folder / "model_input_train.parquet"
        if args.repeat_train > 1 or args.row_group_size:
            train_path = repeated(train_path, args.repeat_train,
                                  args.row_group_size or DUCKDB_ROW_GROUP_ROWS, Path(scratch))
        train = ParquetBatches(train_path)
        print(f"{args.model} ({args.env}, {' '.join(args.set) or 'as the preset'}): "
              f"{train.num_rows:,} train rows in {train.num_row_groups} row groups, "
              f"{len(valid_frame):,} valid rows, {torch.get_num_threads()} torch threads")
        rows = []
        for seed in args.seeds:
            config = TrainingConfig.from_params({
                **params["training"], "seed": seed, "ensemble_size": 1, "ranking_loss_weight": 0.0,
                "member_ranking_loss_weights": None, "progress_bar": False})
            start = time.perf_counter()
            model, history = train_models(specs, model_config, train, valid, config)
            total = time.perf_counter() - start
            probabilities = predict(model, valid, config.score_batch_size)
            in_bf16 = predict(model, valid, config.score_batch_size, precision="bf16")
            row = {"seed": seed, **binary_metrics(labels, probabilities),
                   **valid_user_aucs(users, labels, probabilities),
                   **{f"{name}_bf16_scoring": value for name, value in
                      {**binary_metrics(labels, in_bf16), **valid_user_aucs(users, labels, in_bf16)}.items()},
                   "best_epoch": int(history["valid_auc"].idxmax()) + 1, "epochs": len(history),
                   "s_per_epoch": float(history["seconds"].mean()), "total_s": total}
            rows.append(row)
            print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}))
            if args.save_model and seed == args.seeds[0]:
                args.save_model.write_bytes(pickle.dumps(model))
    table = pd.DataFrame(rows)
    print("mean over seeds:", json.dumps(table.drop(columns="seed").mean().round(5).to_dict()))
    self_mb, child_mb = peak_rss_mb()
    print(f"peak RSS {self_mb:,.0f} MB (largest child process {child_mb:,.0f} MB)")
    print("parameters:", json.dumps(dataclasses.asdict(model_config)), json.dumps(
        {k: v for k, v in dataclasses.asdict(config).items() if k not in ("seed",)}))


if __name__ == "__main__":
    main()
