"""FinalMLP scoring on the real test split: rows/s of the scoring node end to end (model-input table
-> scores table) and of its parts (tensors, forward passes by batch size, score table).

    python benchmarks/finalmlp_scoring.py --model model.pkl [--env tuned] [--member 0] [--precision bf16]

``--model`` is a pickled FinalMLP or SeedEnsemble (e.g. ``benchmarks/finalmlp_training.py
--save-model``, or the pipeline's ``data/tuned/06_models/finalmlp.pkl/<version>/finalmlp.pkl``);
``--member i`` scores member i of an ensemble alone. Reading the parquet file is not counted: the
node receives the table from the catalog. Each figure is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
import yaml

from book_recs.columns import KEY_COLUMNS
from book_recs.models.data import to_tensors
from book_recs.models.inference import predict
from book_recs.pipelines.finalmlp.nodes import score_model

PROJECT_PATH = Path(__file__).resolve().parents[1]


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--env", default="tuned")
    parser.add_argument("--member", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    args = parser.parse_args()

    data_dir = yaml.safe_load((PROJECT_PATH / f"conf/{args.env}/globals.yml").read_text())["data_dir"]
    frame = pd.read_parquet(PROJECT_PATH / data_dir / "05_model_input/model_input_test.parquet")
    model = pickle.loads(args.model.read_bytes())
    if args.member is not None:
        model = model.members[args.member]
    n = len(frame)
    print(f"{type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{n:,} test rows, {frame.shape[1]} columns, {args.precision}, {torch.get_num_threads()} torch threads")

    def rate(seconds: float) -> str:
        return f"{seconds:6.3f} s  {n / seconds:>10,.0f} rows/s"

    tensors_s = best_seconds(lambda: to_tensors(frame, model.input_specs), args.repeats)
    print(f"to_tensors                 {rate(tensors_s)}")
    tensors = to_tensors(frame, model.input_specs)
    for batch_size in args.batch_sizes:
        print(f"predict, batch {batch_size:>6}     "
              f"{rate(best_seconds(lambda: predict(model, tensors, batch_size, args.precision), args.repeats))}")
    probability = predict(model, tensors)
    table_s = best_seconds(lambda: frame[list(KEY_COLUMNS)].assign(score=probability, probability=probability),
                           args.repeats)
    print(f"score table                {rate(table_s)}")
    for batch_size in args.batch_sizes:
        training = {"score_batch_size": batch_size, "device": "cpu", "precision": args.precision,
                    "progress_bar": False}
        print(f"score_model node, batch {batch_size:>6} "
              f"{rate(best_seconds(lambda: score_model(model, frame, training), args.repeats))}")


if __name__ == "__main__":
    main()
