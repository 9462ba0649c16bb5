"""How far a verdict's interval ends move with the seed: the preset's FinalMLP and DualMLP trained
again with other seeds (every other model as the run saved it), each compared with every model
as the reporting pipeline compares them (paired 95% user-bootstrap intervals on test).

    python benchmarks/seed_spread.py --env tuned --seeds 2026 2031
    python benchmarks/seed_spread.py --env tuned --library --seeds 2024 2027   # the library protocol

Reads the model input, the parameters and the saved reports of a finished ``kedro run --env
<env>`` (nothing is written back). Prints, per seed, FinalMLP minus each model on the metrics
that carry verdicts, then the spread (max - min over the run's own seed and the new ones) of
each interval end: the margin ``evaluation.borderline_margins`` must exceed for a verdict to be
more than the seed's luck. A seed's members are seeds seed, seed + 1, ... (``ensemble_size``),
so seeds 5 apart share no member.

``--library``: the same for the reader's-library protocol: the library recommender's re-ranker
trained again on its saved rows with other seeds (the candidate stage, the anchors and K as the
run chose them), its lists of the valid and test readers evaluated, the recommender minus each
anchor.
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import os
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from book_recs.model_registry import (
    LIBRARY_ANCHORS,
    LIBRARY_REFERENCE,
    MODEL_NAMES,
    REFERENCE_MODEL,
    trained_by,
)
from book_recs.pipelines.evaluation.nodes import evaluate_model
from book_recs.pipelines.finalmlp.nodes import score_model, train_model
from book_recs.pipelines.library_protocol.nodes import evaluate_top_n
from book_recs.pipelines.library_recommender.nodes import rank_library_readers, train_reranker
from book_recs.pipelines.reporting.nodes import compute_paired_differences
from book_recs.serving.library import LibraryRecommender

PROJECT_PATH = Path(__file__).resolve().parents[1]
METRICS = ("auc", "logloss", "gauc", "avgauc", "ndcg@3")
RETRAINED = tuple(model.name for model in trained_by("finalmlp"))
LIBRARY = "library"


def differences(metrics: dict, replicates: dict, evaluation: dict) -> pd.DataFrame:
    """FinalMLP minus each model on test, with verdicts."""
    datasets = {f"{model}__{kind}": table[model] for kind, table in
                (("metrics", metrics), ("replicates", replicates)) for model in MODEL_NAMES}
    table = compute_paired_differences(REFERENCE_MODEL, evaluation["confidence"],
                                       evaluation["borderline_margins"], **datasets)
    return table[(table["split"] == "test") & table["metric"].isin(METRICS)]


def article_differences(catalog, params: dict, seeds: list[int]) -> list[pd.DataFrame]:
    """FinalMLP minus each model on test, for the run's own FinalMLP and DualMLP and both
    retrained with each of ``seeds``."""
    metrics = {model: catalog.load(f"{model}.metrics") for model in MODEL_NAMES}
    replicates = {model: catalog.load(f"{model}.bootstrap_replicates") for model in MODEL_NAMES}
    evaluation = params["evaluation"]
    rows = [differences(metrics, replicates, evaluation).assign(
        seed=params[REFERENCE_MODEL]["training"]["seed"])]
    inputs = {split: catalog.load(f"model_input_{split}@pandas") for split in ("valid", "test")}
    for seed in seeds:
        for model in RETRAINED:
            training = {**params[model]["training"], "seed": seed}
            trained, _ = train_model(catalog.load("model_input_train@batches"), inputs["valid"],
                                     catalog.load("feature_specs"), params[model]["model"],
                                     training)
            metrics[model], replicates[model], _ = evaluate_model(
                score_model(trained, inputs["valid"], training),
                score_model(trained, inputs["test"], training), evaluation)
        rows.append(differences(metrics, replicates, evaluation).assign(seed=seed))
        print(rows[-1][["model_b", "metric", "difference", "ci_low", "ci_high", "verdict",
                        "borderline", "seed"]].to_string(index=False), flush=True)
    return rows


def library_differences(catalog, params: dict, seeds: list[int]) -> list[pd.DataFrame]:
    """The recommender minus each anchor on test (the library protocol), for the run's own
    re-ranker and one retrained with each of ``seeds``."""
    protocol = params[LIBRARY]
    models = (LIBRARY_REFERENCE, *LIBRARY_ANCHORS)
    metrics = {model: catalog.load(f"{LIBRARY}.{model}.metrics") for model in models}
    replicates = {model: catalog.load(f"{LIBRARY}.{model}.bootstrap_replicates") for model in models}
    served = catalog.load("recommender")
    readers = catalog.load(f"{LIBRARY}.readers")
    profiles = catalog.load(f"{LIBRARY}.reader_profiles@pandas")
    rows = {split: catalog.load(f"{LIBRARY}.recommender.{split}_rows") for split in ("train", "valid")}

    def compared(seed: int) -> pd.DataFrame:
        datasets = {f"{model}__{kind}": table[model] for kind, table in
                    (("metrics", metrics), ("replicates", replicates)) for model in models}
        table = compute_paired_differences(LIBRARY_REFERENCE, params["evaluation"]["confidence"],
                                           protocol["borderline_margins"], **datasets)
        return table[table["split"] == "test"].assign(seed=seed)

    tables = [compared(protocol["recommender"]["training"]["seed"])]
    for seed in seeds:
        model, _ = train_reranker(rows["train"], rows["valid"], served.features,
                                  protocol["recommender"]["model"],
                                  {**protocol["recommender"]["training"], "seed": seed})
        recommender = LibraryRecommender(served.cold, served.stage, served.catalogue,
                                         served.features, model, served.books,
                                         served.default_top_n)
        lists = {split: rank_library_readers(recommender, readers, profiles, split,
                                             protocol["top_n"]) for split in ("valid", "test")}
        metrics[LIBRARY_REFERENCE], replicates[LIBRARY_REFERENCE], _ = evaluate_top_n(
            lists["valid"], lists["test"], readers, protocol["top_n"], params["evaluation"])
        tables.append(compared(seed))
        print(tables[-1][["model_b", "metric", "difference", "ci_low", "ci_high", "verdict",
                          "seed"]].to_string(index=False), flush=True)
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="tuned")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2026, 2031])
    parser.add_argument("--library", action="store_true",
                        help="the reader's-library protocol's recommender instead")
    args = parser.parse_args()
    os.environ.setdefault("BOOK_CROSSING_DIR", str(PROJECT_PATH.parent / "shared" / "data"
                                                   / "book-crossing"))
    os.environ["BOOK_RECS_TRACKING"] = "off"
    bootstrap_project(PROJECT_PATH)
    with KedroSession.create(project_path=PROJECT_PATH, env=args.env) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        rows = (library_differences(catalog, params, args.seeds) if args.library
                else article_differences(catalog, params, args.seeds))
    table = pd.concat(rows, ignore_index=True)
    spread = table.groupby(["model_b", "metric"])[["difference", "ci_low", "ci_high"]].agg(
        lambda values: values.max() - values.min())
    print("\nspread over seeds", sorted(int(seed) for seed in table["seed"].unique()),
          "(max - min):")
    print(spread.round(5).to_string())
    print("\nlargest interval-end spread per metric:")
    print(spread[["ci_low", "ci_high"]].max(axis=1).groupby("metric").max().round(5).to_string())


if __name__ == "__main__":
    main()
