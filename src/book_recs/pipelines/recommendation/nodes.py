"""The recommender's nodes: candidates fitted on train, the recommender built from the feature
stage's tables and the trained model, a request of readers answered, the top-N measured."""

from __future__ import annotations

import logging
from typing import Any

import ibis.expr.types as ir
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from book_recs.baselines.popularity import PopularityRates
from book_recs.features import FieldConfig
from book_recs.features.model_input import FittedFeatures
from book_recs.model_registry import REFERENCE_MODEL
from book_recs.serving.candidates import CandidateConfig, select_candidates
from book_recs.serving.evaluation import evaluate_split
from book_recs.serving.recommender import InvalidRequest, Recommender, RequestLimits

logger = logging.getLogger(__name__)


def select_candidate_books(train: ir.Table, params: dict[str, Any]) -> ir.Table:
    """The K books every request ranks (``params``: ``rule``, ``k``), from train only."""
    return select_candidates(train, CandidateConfig.from_params(params))


def build_recommender(
    candidates: ir.Table, books: ir.Table, title_components: ir.Table, statistics: ir.Table,
    priors: ir.Table, vocabularies: ir.Table, scaling: pd.DataFrame,
    feature_params: dict[str, Any], model: Any, default_top_n: int, ranking: str,
    limits: dict[str, int],
) -> Recommender:
    """The recommender of the trained model over the candidate books, their item side built
    once with what the feature stage fitted (``FittedFeatures``); the model's ``input_specs``
    say which fields it reads. ``ranking``: ``like_probability`` or ``expected_like``;
    ``limits``: what one request may ask (``RequestLimits``: both in
    ``book_recs.serving.recommender``)."""
    fitted = FittedFeatures(FieldConfig.from_params(feature_params), title_components, statistics,
                            priors, vocabularies, scaling)
    recommender = Recommender.build(fitted, books, candidates, model, default_top_n, ranking,
                                    limits=RequestLimits(**limits))
    logger.info("recommender over %d candidate books, ranked by %s", recommender.candidate_count,
                ranking)
    return recommender


def list_readers(readers: list[dict[str, Any]]) -> pd.DataFrame:
    """The readers of a batch request, one row each, as a served request holds them."""
    return pd.DataFrame(readers)


def recommend_books(readers: pd.DataFrame, recommender: Recommender) -> pd.DataFrame:
    """Each reader's top-N books (the served model runs this node on each request).

    Raises:
        MlflowException: ``INVALID_PARAMETER_VALUE`` (HTTP 400 from MLflow's scoring server)
            naming the field, when the request is empty, beyond a limit (named, with the value),
            or a field is missing or mistyped.
    """
    try:
        return recommender.recommend(readers)
    except InvalidRequest as error:
        raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None


def evaluate_recommender(recommender: Recommender, valid: pd.DataFrame, test: pd.DataFrame,
                         popularity: PopularityRates, params: dict[str, Any],
                         candidate_params: dict[str, Any],
                         evaluation_params: dict[str, Any]) -> dict[str, Any]:
    """Candidate recall and the catalogue top-N metrics of the recommender beside popularity's,
    for the valid readers (where K and the rule are chosen) and the test readers.

    Args:
        recommender: The recommender.
        valid, test: The ratings of the valid and test readers (cold-start).
        popularity: The popularity baseline's rates (ranks the same candidates).
        params: ``top_n``: N of nDCG@N and Recall@N.
        candidate_params: The candidate settings (reported beside the metrics).
        evaluation_params: ``bootstrap_resamples``, ``bootstrap_seed``, ``confidence``.
    """
    top_n = params["top_n"]
    metrics: dict[str, Any] = {"candidates": dict(candidate_params), "ranking": recommender.ranking}
    for split, ratings in (("valid", valid), ("test", test)):
        metrics[split] = evaluate_split(
            recommender, ratings, popularity, REFERENCE_MODEL, top_n,
            evaluation_params["bootstrap_resamples"], evaluation_params["bootstrap_seed"],
            evaluation_params["confidence"])
        models = metrics[split]["models"]
        logger.info("%s: candidate recall %.4f; nDCG@%d %s %.4f, popularity %.4f", split,
                    metrics[split]["candidate_recall"], top_n, REFERENCE_MODEL,
                    models[REFERENCE_MODEL][f"ndcg@{top_n}"]["value"],
                    models["popularity"][f"ndcg@{top_n}"]["value"])
    return metrics
