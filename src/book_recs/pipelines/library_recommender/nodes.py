"""Nodes of the library recommender: a candidate stage chosen among the anchors, a FinalMLP
re-ranker trained on the train readers' (library, held-out) pairs, the served recommender, and
its lists of the protocol's readers (evaluated as the anchors' are).

No row sees itself: the re-ranker's train pairs come from a copy of the candidate stage fitted
on the train readers' libraries only (their held-out books unseen), and the pairs' item
statistics are out of fold (``FittedFeatures`` with the feature stage's user folds), so a train
reader's own rating of a held-out book is in none of its features.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from book_recs.columns import BOOK_COLUMN, LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.evaluation.plots import plot_candidate_recall
from book_recs.evaluation.top_n import per_reader_top_n_metrics
from book_recs.features import FieldConfig
from book_recs.features.library import (
    PairFeatures,
)
from book_recs.features.model_input import ORDER_COLUMN, FittedFeatures
from book_recs.models.distributed import train_models
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.finalmlp import FinalMLPConfig
from book_recs.models.training import TrainingConfig
from book_recs.pipelines.data_split.nodes import SPLIT_COLUMN
from book_recs.pipelines.finalmlp.nodes import valid_user_aucs
from book_recs.pipelines.library_protocol.nodes import LIBRARY, PART_COLUMN, split_libraries
from book_recs.serving.library import LibraryRecommender
from book_recs.serving.recommender import PROFILE_FIELDS, Recommender
from book_recs.topn import (
    LIKED,
    NOT_RECOMMENDED,
    LibrarySplit,
    TopNModel,
    recommendation_table,
    top_n,
)
from book_recs.topn.candidates import CandidateStage

logger = logging.getLogger(__name__)

BOOK_FIELDS = ("Book-Title", "Book-Author", "Year-Of-Publication", "Publisher")


def list_reader_profiles(ratings: ir.Table) -> ir.Table:
    """``User-ID``, ``Age``, ``state``, ``country`` of every reader of the cleaned ratings (one
    row each: the profile is the same on all a reader's rows), ordered by ``User-ID``."""
    return (ratings.select(USER_COLUMN, *PROFILE_FIELDS).distinct(on=USER_COLUMN, keep="first")
            .order_by(USER_COLUMN))


def list_catalogue_books(ratings: ir.Table, implicit: ir.Table) -> ir.Table:
    """The fields of every titled book the readers hold: those of the cleaned ratings, and for a
    book only held (implicit rows) its title, author and publisher (no year), one row per
    ``ISBN``, ordered by it."""
    rated = ratings.select(BOOK_COLUMN, *BOOK_FIELDS).distinct(on=BOOK_COLUMN, keep="first")
    held = (implicit.select(BOOK_COLUMN, "Book-Title", "Book-Author", "Publisher")
            .distinct(on=BOOK_COLUMN, keep="first").anti_join(rated, BOOK_COLUMN)
            .mutate(**{"Year-Of-Publication": ibis.null("float64")}))
    return ibis.union(rated, held.select(BOOK_COLUMN, *BOOK_FIELDS)).order_by(BOOK_COLUMN)


def _fitted(feature_params: dict[str, Any], title_components: ir.Table, statistics: ir.Table,
            priors: ir.Table, vocabularies: ir.Table, scaling: pd.DataFrame) -> FittedFeatures:
    return FittedFeatures(FieldConfig.from_params(feature_params), title_components, statistics,
                          priors, vocabularies, scaling)


def build_pair_features(readers: LibrarySplit, stage: CandidateStage, books: ir.Table,
                        title_components: ir.Table, statistics: ir.Table, priors: ir.Table,
                        vocabularies: ir.Table, scaling: pd.DataFrame,
                        feature_params: dict[str, Any], params: dict[str, Any]) -> PairFeatures:
    """The re-ranker's fields (``PairFeatures.build``; ``params``: ``min_book_count``,
    ``max_library``, ``exclude_fields``)."""
    features = PairFeatures.build(
        _fitted(feature_params, title_components, statistics, priors, vocabularies, scaling),
        readers.catalogue, readers.train.matrix, books, params["min_book_count"],
        params["max_library"], stage.feature_names, params.get("exclude_fields", ()))
    logger.info("re-ranker: %d fields; %d of %d catalogue books have an id of their own",
                len(features.specs), int((features.book_ids > 1).sum()), len(readers.catalogue))
    return features


def choose_candidate_stage(readers: LibrarySplit, params: dict[str, Any],
                           **anchors: TopNModel) -> tuple[CandidateStage, pd.DataFrame, Figure]:
    """The candidate stage: the anchor ``params["generator"]`` picks them (``auto``: the anchor
    whose K candidates hold the most of the valid readers' targets, recall@K at the largest K
    of ``params["k_grid"]``), the anchors of ``params["described_by"]`` describe them; the valid
    recall@K of every anchor at every K of the grid, and its plot."""
    ks = sorted(params["k_grid"])
    libraries, targets = readers.judged_libraries("valid"), readers.targets["valid"]
    rows = []
    for name, model in anchors.items():
        columns, _ = top_n(model, libraries.matrix, ks[-1])
        for k in ks:
            rows.append({"generator": name, "k": k,
                         "recall": candidate_recall(columns[:, :k], libraries.readers, targets,
                                                    readers)})
    table = pd.DataFrame(rows)
    at_largest = table[table["k"] == ks[-1]].sort_values(["recall", "generator"],
                                                         ascending=[False, True])
    chosen = (at_largest["generator"].iloc[0] if params["generator"] == "auto"
              else params["generator"])
    logger.info("candidate stage: %s (valid recall@%d: %s)", chosen, ks[-1],
                ", ".join(f"{g} {r:.4f}" for g, r in zip(at_largest["generator"],
                                                         at_largest["recall"], strict=True)))
    described = {name: anchors[name] for name in params["described_by"]}
    stage = CandidateStage(chosen, {chosen: anchors[chosen], **described}, ks[-1])
    return stage, table.assign(chosen=table["generator"] == chosen), plot_candidate_recall(table)


def candidate_recall(columns: np.ndarray, reader_ids: np.ndarray, targets: pd.DataFrame,
                     readers: LibrarySplit) -> float:
    """The share of the targets (every target, outside the catalogue too) among the readers'
    candidate columns (R, K)."""
    rows = np.repeat(reader_ids, columns.shape[1])
    shown = columns.ravel()
    kept = shown != NOT_RECOMMENDED
    candidates = pd.DataFrame({USER_COLUMN: rows[kept],
                               BOOK_COLUMN: readers.catalogue.isbns[shown[kept]]})
    found = targets.merge(candidates, on=[USER_COLUMN, BOOK_COLUMN], how="left", indicator=True)
    return float((found["_merge"] == "both").mean())


def _user_side(cold: Recommender, profiles: pd.DataFrame, reader_ids: np.ndarray) -> pd.DataFrame:
    """The feature stage's user side of readers (``reader_ids`` order) from their profiles."""
    rows = profiles.set_index(USER_COLUMN).loc[reader_ids, list(PROFILE_FIELDS)].reset_index(
        drop=True)
    return cold.profile_features(rows.astype({"Age": "float64"}))


def _pair_rows(candidates: np.ndarray, reader_ids: np.ndarray, targets: pd.DataFrame,
               readers: LibrarySplit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each filled candidate place (R, K) as (reader position, place, label)."""
    reader, place = np.nonzero(candidates != NOT_RECOMMENDED)
    wanted = pd.MultiIndex.from_frame(targets[[USER_COLUMN, BOOK_COLUMN]])
    pairs = pd.MultiIndex.from_arrays([reader_ids[reader],
                                       readers.catalogue.isbns[candidates[reader, place]]])
    return reader, place, pairs.isin(wanted).astype(np.float32)


def build_reranker_rows(readers: LibrarySplit, profiles: pd.DataFrame, stage: CandidateStage,
                        features: PairFeatures, cold: Recommender, books: ir.Table,
                        title_components: ir.Table, statistics: ir.Table, priors: ir.Table,
                        vocabularies: ir.Table, scaling: pd.DataFrame, folds: ir.Table,
                        feature_params: dict[str, Any], split_params: dict[str, Any],
                        params: dict[str, Any],
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``reranker_rows`` with the feature stage's fitted tables."""
    return reranker_rows(readers, profiles, stage, features, cold, books,
                         _fitted(feature_params, title_components, statistics, priors,
                                 vocabularies, scaling), folds, split_params, params)


def reranker_rows(readers: LibrarySplit, profiles: pd.DataFrame, stage: CandidateStage,
                  features: PairFeatures, cold: Recommender, books: ir.Table,
                  fitted: FittedFeatures, folds: ir.Table, split_params: dict[str, Any],
                  params: dict[str, Any],
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The re-ranker's train and valid rows (tensors, ``label`` and ``user`` included).

    Train: the train readers' rows are split into library and held-out books as the protocol
    splits a reader (``split_params``), ``params["splits"]`` times with seeds ``seed``,
    ``seed + 1``, ... For each split a copy of the candidate stage (every anchor) is fitted on
    the libraries alone, and each reader with a target among its K candidates gives every
    such target (label 1) and up to ``negatives_per_reader`` other candidates drawn at random
    (label 0); the item statistics are out of fold (``folds``: the feature stage's user
    folds). No row sees itself. Valid: every candidate of every valid reader with a target,
    from the candidate stage itself (what the recommender ranks), for early stopping.
    """
    parts = []
    for offset in range(params["splits"]):
        seed = params["seed"] + offset
        split = resplit_train_readers(readers, {**split_params, "seed": seed})
        parts.append(_train_pairs(split, profiles, stage.refitted(split.libraries["train"].matrix),
                                  features, cold, books, fitted, folds,
                                  params["negatives_per_reader"], seed))
    train = {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
    # Each split's readers are groups of their own (user-grouped batches, the ranking loss).
    train["user"] = torch.cat([part["user"] + sum(int(earlier["user"].max()) + 1
                                                  for earlier in parts[:index])
                               for index, part in enumerate(parts)])

    valid_libraries = readers.judged_libraries("valid")
    candidates, described = stage.candidates(valid_libraries.matrix)
    reader, place, label = _pair_rows(candidates, valid_libraries.readers,
                                      readers.targets["valid"], readers)
    valid = features.tensors(_user_side(cold, profiles, valid_libraries.readers),
                             valid_libraries.matrix, reader, candidates[reader, place],
                             described[reader, place])
    valid.update(label=torch.from_numpy(label), user=torch.from_numpy(reader.astype(np.int64)))
    logger.info("re-ranker rows: train %d (%d positive, %d reader splits), valid %d (%d "
                "positive)", len(train["label"]), int(train["label"].sum()),
                len(np.unique(train["user"])), len(valid["label"]), int(valid["label"].sum()))
    return train, valid


def resplit_train_readers(readers: LibrarySplit, split_params: dict[str, Any]) -> LibrarySplit:
    """The train readers' rows (from the train matrix: a liked book rated 9, any other 0) split
    again into libraries and held-out books with ``split_params``, as the protocol splits a
    reader; its ``train`` split is theirs."""
    matrix = readers.train.matrix.tocoo()
    liked = matrix.data == LIKED
    rows = pd.DataFrame({USER_COLUMN: readers.train.readers[matrix.row],
                         BOOK_COLUMN: readers.catalogue.isbns[matrix.col],
                         RATING_COLUMN: np.where(liked, 9, 0), LABEL_COLUMN: liked.astype(int),
                         SPLIT_COLUMN: "train"})
    return LibrarySplit.from_rows(split_libraries(rows, split_params), SPLIT_COLUMN, PART_COLUMN,
                                  LIBRARY)


def _train_pairs(split: LibrarySplit, profiles: pd.DataFrame, stage: CandidateStage,
                 features: PairFeatures, cold: Recommender, books: ir.Table,
                 fitted: FittedFeatures, folds: ir.Table, negatives: int,
                 seed: int) -> dict[str, torch.Tensor]:
    """The train pairs of one split of the train readers (``reranker_rows``)."""
    libraries = split.judged_libraries("train")
    candidates, described = stage.candidates(libraries.matrix)
    reader, place, label = _pair_rows(candidates, libraries.readers, split.targets["train"],
                                      split)
    keep = _sampled_rows(reader, label, negatives, seed)
    reader, place, label = reader[keep], place[keep], label[keep]
    columns = candidates[reader, place]
    pairs = pd.DataFrame({USER_COLUMN: libraries.readers[reader],
                          BOOK_COLUMN: split.catalogue.isbns[columns],
                          ORDER_COLUMN: np.arange(len(reader), dtype=np.int64)})
    out_of_fold = fitted.build(ibis.memtable(pairs).join(books, BOOK_COLUMN), row_folds=folds,
                               side="item").execute()
    if len(out_of_fold) != len(pairs):
        raise ValueError(f"{len(out_of_fold)} of {len(pairs)} train pairs have item fields")
    tensors = features.tensors(
        _user_side(cold, profiles, libraries.readers), libraries.matrix, reader, columns,
        described[reader, place],
        out_of_fold[list(features.item_numeric_names)].to_numpy(np.float32))
    tensors.update(label=torch.from_numpy(label), rating=torch.from_numpy(label),
                   user=torch.from_numpy(reader.astype(np.int64)))
    return tensors


def _sampled_rows(reader: np.ndarray, label: np.ndarray, negatives: int, seed: int) -> np.ndarray:
    """Row positions kept for training: of each reader with a positive, all the positives and
    up to ``negatives`` negatives drawn at random (seeded), in row order."""
    with_positive = np.isin(reader, reader[label == 1])
    draw = np.where(label == 0, np.random.default_rng(seed).random(len(reader)), np.inf)
    negative_rank = pd.Series(draw).groupby(reader).rank(method="first").to_numpy()
    return np.flatnonzero(with_positive & ((label == 1) | (negative_rank <= negatives)))


def train_reranker(train: dict[str, torch.Tensor], valid: dict[str, torch.Tensor],
                   features: PairFeatures, model_params: dict[str, Any],
                   training_params: dict[str, Any]) -> tuple[torch.nn.Module, pd.DataFrame]:
    """FinalMLP over the pair fields (``features.specs``), trained on the train pairs with
    early stopping on the valid candidates' AUC; the training history."""
    return train_models(features.specs, FinalMLPConfig.from_params(model_params), train, valid,
                        TrainingConfig.from_params(training_params), user_metrics=valid_user_aucs)


def build_library_recommender(cold: Recommender, stage: CandidateStage, readers: LibrarySplit,
                              features: PairFeatures, model: torch.nn.Module,
                              catalogue_books: pd.DataFrame, profiles: pd.DataFrame,
                              params: dict[str, Any], top_n_judged: int,
                              ) -> tuple[LibraryRecommender, pd.DataFrame]:
    """The served recommender, K and the shortlist chosen on the valid readers: the K of
    ``params["k_grid"]`` whose re-ranked top ``top_n_judged`` has the best valid nDCG, every
    member of the re-ranker scoring all K; then, with a seed ensemble, the shortlist of
    ``params["shortlist_grid"]`` (or all K) with the best valid nDCG, the smaller on a tie. The
    table of each choice's valid nDCG and Recall (``shortlist`` K: all K)."""
    books = (catalogue_books.set_index(BOOK_COLUMN).loc[readers.catalogue.isbns,
                                                          ["Book-Title", "Book-Author"]]
             .reset_index(drop=True))

    def recommender(k: int, shortlist: int | None = None) -> LibraryRecommender:
        return LibraryRecommender(cold, stage.with_k(k), readers.catalogue, features, model,
                                  books, min(cold.default_top_n, k), shortlist)

    def valid_row(k: int, shortlist: int | None = None) -> dict[str, Any]:
        lists = rank_library_readers(recommender(k, shortlist), readers, profiles, "valid",
                                     top_n_judged)
        metrics = per_reader_top_n_metrics(lists, readers.targets["valid"], top_n_judged)
        row = {"k": k, "shortlist": shortlist or k,
               **metrics[[f"ndcg@{top_n_judged}", f"recall@{top_n_judged}"]].mean().to_dict()}
        logger.info("re-ranking K=%d, shortlist %d: valid nDCG@%d %.4f", k, row["shortlist"],
                    top_n_judged, row[f"ndcg@{top_n_judged}"])
        return row

    def best(rows: list[dict[str, Any]]) -> dict[str, Any]:
        # The best valid nDCG, then the fewest member-rows (a K row's shortlist is K itself).
        return min(rows, key=lambda row: (-row[f"ndcg@{top_n_judged}"], row["shortlist"]))

    rows = [valid_row(k) for k in sorted(params["k_grid"])]
    k = best(rows)["k"]
    if isinstance(model, SeedEnsemble):
        rows += [valid_row(k, shortlist) for shortlist in sorted(params["shortlist_grid"])
                 if shortlist < k]
    chosen = best([row for row in rows if row["k"] == k])
    table = pd.DataFrame(rows)
    return (recommender(k, chosen["shortlist"] if chosen["shortlist"] < k else None),
            table.assign(chosen=(table["k"] == k) & (table["shortlist"] == chosen["shortlist"])))


def rank_library_readers(recommender: LibraryRecommender, readers: LibrarySplit,
                         profiles: pd.DataFrame, split: str, k: int) -> pd.DataFrame:
    """The recommender's top ``k`` of every ``split`` reader with a target (the scoring path of
    a served request): ``User-ID``, ``rank``, ``ISBN``, ``score``."""
    libraries = readers.judged_libraries(split)
    users = _user_side(recommender.cold, profiles, libraries.readers)
    columns, scores = recommender.rank(users, libraries.matrix, k)
    return recommendation_table(libraries.readers, readers.catalogue, columns, scores)
