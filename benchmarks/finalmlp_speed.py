"""FinalMLP speed at the full data's shape: seconds per training epoch, rows/s, scoring rows/s, peak RSS.

Synthetic inputs with the full data's shape (269k train rows, 1 + 146 + 9 numeric fields, 5 categorical
fields with the full vocabularies), the parameters of conf/base/parameters_finalmlp.yml (or a preset);
``--set training.precision=bf16`` (any ``section.key=value``) changes one. Real data and valid metrics:
``benchmarks/finalmlp_training.py``; real scoring: ``benchmarks/finalmlp_scoring.py``.

    python benchmarks/finalmlp_speed.py [--model finalmlp|dualmlp] [--epochs 1] [--env base] [--set ...]
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from book_recs.features import statistic_columns
from book_recs.models.data import to_tensors
from book_recs.models.feature_spec import FeatureSpec, drop_fields
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.inference import predict
from book_recs.models.training import TrainingConfig, fit, seed_everything

PROJECT_PATH = Path(__file__).resolve().parents[1]
ROWS = {"train": 269_337, "valid": 38_294, "test": 76_211}
TITLE_COMPONENTS = 146
USERS = 68_000  # readers in the full data's splits, for user-grouped batches and ranking losses
VOCABULARIES = {"Book-Author": 62_000, "Year-Of-Publication": 100, "Publisher": 11_000,
                "state": 1_400, "country": 300}
USER_FIELDS = {"Age", "state", "country"}
ITEM_STATISTIC_KEYS = ("ISBN", "Book-Author", "Publisher")


def synthetic_specs() -> list[FeatureSpec]:
    numeric = (["Age"] + [f"Book-Title_{i}" for i in range(TITLE_COMPONENTS)]
               + statistic_columns(ITEM_STATISTIC_KEYS))
    return ([FeatureSpec(n, "numeric", context="user" if n in USER_FIELDS else "item") for n in numeric]
            + [FeatureSpec(n, "categorical", size, "user" if n in USER_FIELDS else "item")
               for n, size in VOCABULARIES.items()])


def synthetic_frame(specs: list[FeatureSpec], n: int, rng: np.random.Generator) -> pd.DataFrame:
    columns = {"label": rng.integers(0, 2, n), "Book-Rating": rng.integers(1, 11, n),
               "User-ID": np.sort(rng.integers(0, USERS, n))}
    for spec in specs:
        columns[spec.name] = (rng.random(n, dtype=np.float32) if spec.kind == "numeric"
                              else rng.integers(0, spec.vocab_size, n))
    return pd.DataFrame(columns)


def parameters(env: str, model: str, assignments: list[str] = ()) -> dict:
    """``model``'s parameters in ``env`` (base, then the preset's sections merged softly), then
    each ``section.key=value`` of ``assignments``."""
    params = yaml.safe_load((PROJECT_PATH / "conf/base/parameters_finalmlp.yml").read_text())[model]
    preset = PROJECT_PATH / f"conf/{env}/parameters_finalmlp.yml"
    if env != "base" and preset.exists():
        for section, values in (yaml.safe_load(preset.read_text()).get(model) or {}).items():
            params[section].update(values)
    for assignment in assignments:
        dotted, value = assignment.split("=", 1)
        section, key = dotted.split(".", 1)
        params[section][key] = yaml.safe_load(value)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="finalmlp", choices=["finalmlp", "dualmlp"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--env", default="base")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()

    specs, rng = synthetic_specs(), np.random.default_rng(0)
    params = parameters(args.env, args.model, args.set)
    model_config = FinalMLPConfig.from_params(params["model"])
    input_specs = drop_fields(specs, model_config.exclude_fields)
    tensors = {split: to_tensors(synthetic_frame(specs, n, rng), input_specs) for split, n in ROWS.items()}
    # Synthetic labels carry no signal: calibrating on them would be meaningless. One model.
    config = TrainingConfig.from_params({
        **params["training"], "epochs": args.epochs, "early_stop_patience": args.epochs + 1,
        "calibrate": False, "ensemble_size": 1, "member_ranking_loss_weights": None})
    seed_everything(config.seed)
    model = FinalMLP(specs, model_config)
    print(f"{args.model}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{torch.get_num_threads()} torch threads")
    _, history = fit(model, tensors["train"], tensors["valid"], config)
    for row in history.itertuples():
        print(f"epoch {row.epoch}: {row.seconds:.1f} s, {row.rows_per_s:,.0f} rows/s")
    start = time.perf_counter()
    predict(model, tensors["test"], config.score_batch_size, config.precision)
    seconds = time.perf_counter() - start
    print(f"scoring {ROWS['test']:,} rows: {seconds:.2f} s, {ROWS['test'] / seconds:,.0f} rows/s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
