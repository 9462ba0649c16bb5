"""Which candidate rule, K and ranking the recommender should use, on the VALID split only:
candidate recall, and nDCG@N / Recall@N of the two-stage recommender beside popularity's and the
candidate order's, for every rule, K and ranking.

    python benchmarks/candidate_k.py --env tuned                      # this project's outputs
    python benchmarks/candidate_k.py --env tuned --project /work/main # another checkout's

It reads a finished run's outputs through that project's Kedro catalog (nothing is written):
the train counts, the feature stage's fitted tables, the trained reference model, popularity and
the valid ratings. The valid readers' profiles are scored once against the union of the largest
candidate sets of every rule; the top N among a smaller set is the first N of that set in each
reader's order over the union (the order ``Recommender.recommend`` follows, by each ranking of
``book_recs.serving.recommender.RANKINGS``). The evaluation is the pipeline's own
(``book_recs.serving.evaluation``). Picked: the best valid nDCG@N; a K within ``--tolerance`` of
it and smaller wins (each candidate costs serving time).
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import itertools
import time
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from book_recs.columns import BOOK_COLUMN, USER_COLUMN
from book_recs.features import FieldConfig
from book_recs.features.model_input import FittedFeatures
from book_recs.model_registry import REFERENCE_MODEL
from book_recs.serving.candidates import (
    CANDIDATE_RANK,
    READ_SHARE,
    RULE_ORDER,
    CandidateConfig,
    select_candidates,
)
from book_recs.serving.evaluation import (
    candidate_lists,
    evaluate_lists,
    liked_books,
    reader_profiles,
)
from book_recs.serving.recommender import (
    RANKINGS,
    READER_COLUMN,
    Recommender,
    RequestLimits,
    ranking_scores,
)
from book_recs.settings import CONFIG_LOADER_ARGS

PROJECT_PATH = Path(__file__).resolve().parents[1]


def project_catalog(project: Path, env: str) -> tuple[DataCatalog, dict]:
    """The catalog and parameters of ``project`` in environment ``env``."""
    loader = OmegaConfigLoader(str(project / "conf"), env=env, **CONFIG_LOADER_ARGS)
    globals_ = dict(loader["globals"])
    globals_["data_dir"] = str(project / globals_["data_dir"])
    loader["globals"] = globals_
    return DataCatalog.from_config(loader["catalog"]), loader["parameters"]


def top_n_among(orders: np.ndarray, in_set: np.ndarray, top_n: int) -> np.ndarray:
    """Per reader, the first ``top_n`` positions of its order (readers x union) that are in the
    set (a boolean per union position): (readers, top_n)."""
    kept = in_set[orders]
    first = kept & (np.cumsum(kept, axis=1) <= top_n)
    return orders[first].reshape(len(orders), top_n)


def table_row(result: dict, ranking: str, rule: str, k: int, top_n: int) -> dict:
    """One line of the table: the settings, candidate recall, every list's metrics, the
    recommender's nDCG minus each baseline's (with the paired interval)."""
    row = {"ranking": ranking, "rule": rule, "k": k, "candidate_recall": result["candidate_recall"]}
    for name, metrics in result["models"].items():
        for metric, value in metrics.items():
            row[f"{name} {metric}"] = value["value"]
    for baseline, metrics in result[f"{REFERENCE_MODEL}_minus"].items():
        ndcg = metrics[f"ndcg@{top_n}"]
        row[f"minus {baseline} ndcg@{top_n}"] = (
            f"{ndcg['difference']:+.4f} [{ndcg['ci_low']:+.4f}, {ndcg['ci_high']:+.4f}]")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=PROJECT_PATH)
    parser.add_argument("--env", default="tuned")
    parser.add_argument("--ks", type=int, nargs="+", default=[100, 200, 500, 1000, 2000])
    parser.add_argument("--rules", nargs="+", default=sorted(RULE_ORDER))
    parser.add_argument("--tolerance", type=float, default=0.001,
                        help="nDCG a smaller K may give up (default 0.001)")
    parser.add_argument("--output", type=Path, help="also write the table here (CSV)")
    args = parser.parse_args()

    catalog, params = project_catalog(args.project.resolve(), args.env)
    top_n = params["recommendation"]["evaluation"]["top_n"]
    evaluation = params["evaluation"]
    train, books = catalog.load("train_ratings@ibis"), catalog.load("cleaned_ratings@ibis")
    fitted = FittedFeatures(
        FieldConfig.from_params(params["feature_engineering"]),
        *(catalog.load(f"{name}@ibis") for name in ("title_components", "item_statistics",
                                                     "statistics_priors", "vocabularies")),
        catalog.load("scaling_statistics@pandas"))
    model, rates = catalog.load(f"{REFERENCE_MODEL}.model"), catalog.load("popularity.model")
    valid = catalog.load("valid_ratings@pandas")

    largest = max(args.ks)
    selected = {rule: select_candidates(train, CandidateConfig(rule, largest)).execute()
                for rule in args.rules}
    ranked = {rule: frame[BOOK_COLUMN] for rule, frame in selected.items()}
    union = pd.concat(selected.values())[[BOOK_COLUMN, READ_SHARE]].drop_duplicates(BOOK_COLUMN)
    recommender = Recommender.build(
        fitted, books, ibis.memtable(union.assign(**{CANDIDATE_RANK: np.arange(1, len(union) + 1)})),
        model, limits=RequestLimits(**params["recommendation"]["limits"]))
    isbns = recommender.candidates[BOOK_COLUMN]
    union_books = recommender.candidates[[BOOK_COLUMN]].assign(
        **{rates.author_column: recommender.item_features[rates.author_column]})

    liked = liked_books(valid)
    readers = valid[valid[USER_COLUMN].isin(liked[USER_COLUMN])]
    profiles, users = reader_profiles(readers)
    start = time.perf_counter()
    probabilities = recommender.like_probabilities(profiles)
    print(f"{len(profiles):,} profiles of {len(users):,} valid readers with a liked book x "
          f"{len(union):,} books (union of the rules' top {largest}) scored in "
          f"{time.perf_counter() - start:.0f} s")
    read_shares = recommender.candidates[READ_SHARE].to_numpy()

    rows = []
    for ranking in RANKINGS:
        orders = np.stack([recommender.best_first(row) for row in
                           ranking_scores(probabilities, read_shares, ranking)])
        for rule, k in itertools.product(ranked, sorted(args.ks)):
            rank_of = pd.Series(np.arange(1, len(ranked[rule]) + 1), index=ranked[rule].to_numpy())
            union_rank = isbns.map(rank_of).to_numpy()
            in_set = union_rank <= k
            picks = top_n_among(orders, in_set, top_n)
            answer = pd.DataFrame({READER_COLUMN: np.repeat(np.arange(len(picks)), top_n),
                                   "rank": np.tile(np.arange(1, top_n + 1), len(picks)),
                                   BOOK_COLUMN: isbns.to_numpy()[picks.ravel()]})
            candidates = union_books.assign(_rank=union_rank)[in_set].sort_values("_rank")
            lists = {REFERENCE_MODEL: users.merge(answer, on=READER_COLUMN)[
                         [USER_COLUMN, "rank", BOOK_COLUMN]],
                     **candidate_lists(readers, candidates, rates, top_n)}
            result = evaluate_lists(lists, liked, candidates[BOOK_COLUMN], REFERENCE_MODEL, top_n,
                                    evaluation["bootstrap_resamples"], evaluation["bootstrap_seed"],
                                    evaluation["confidence"])
            rows.append(table_row(result, ranking, rule, k, top_n))
            print(f"  {ranking} {rule} K={k}: candidate recall {result['candidate_recall']:.4f}, "
                  f"nDCG@{top_n} {rows[-1][f'{REFERENCE_MODEL} ndcg@{top_n}']:.4f}")

    table = pd.DataFrame(rows)
    ndcg = table[f"{REFERENCE_MODEL} ndcg@{top_n}"]
    close = table[ndcg >= ndcg.max() - args.tolerance].sort_values(["k", f"{REFERENCE_MODEL} ndcg@{top_n}"],
                                                                   ascending=[True, False])
    chosen = close.iloc[0]
    print(f"\nvalid split, {len(users):,} readers with a liked book, {len(liked):,} liked books\n")
    print(table.to_string(index=False, float_format="{:.4f}".format))
    print(f"\nchosen on valid: ranking {chosen['ranking']}, rule {chosen['rule']}, K {chosen['k']} "
          f"(best nDCG@{top_n} "
          f"{ndcg.max():.4f}; the smallest K within {args.tolerance})")
    if args.output:
        table.to_csv(args.output, index=False)


if __name__ == "__main__":
    main()
