"""Ranking candidate books for a new user profile, the way an application calls the model."""

from __future__ import annotations

import logging
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from book_recs.columns import BOOK_COLUMN
from book_recs.features import FieldConfig
from book_recs.features.model_input import ORDER_COLUMN, FittedFeatures
from book_recs.models.inference import predict_frame

logger = logging.getLogger(__name__)

BOOK_COLUMNS = ["ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"]
PROFILE_FIELDS = {"Age": "float64", "state": "string", "country": "string"}


def rank_candidates(
    profile: dict[str, Any],
    candidate_isbns: list[str],
    books: ir.Table,
    title_components: ir.Table,
    statistics: ir.Table,
    priors: ir.Table,
    vocabularies: ir.Table,
    scaling: pd.DataFrame,
    feature_params: dict[str, Any],
    model: Any,
    top_n: int,
) -> pd.DataFrame:
    """Score each candidate book for a user profile and return the best ``top_n``, best first.

    Args:
        profile: ``Age`` (or null), ``state``, ``country``: a new, cold-start user.
        candidate_isbns: Books to rank; unknown ISBNs are reported and skipped.
        books: Rows with the book columns (the cleaned ratings).
        title_components, statistics, priors, vocabularies, scaling: What the feature stage
            fitted on train (``FittedFeatures``).
        feature_params: The ``feature_engineering`` parameters.
        model: The trained model (it knows the fields it reads).
        top_n: How many books to return.

    Returns:
        rank, ISBN, Book-Title, Book-Author, score (probability that the user rates it > 7).
    """
    unknown_fields = set(profile) - set(PROFILE_FIELDS)
    if unknown_fields:
        raise ValueError(f"profile fields must be among {sorted(PROFILE_FIELDS)}, "
                         f"got {sorted(unknown_fields)}")
    candidates = list(dict.fromkeys(str(isbn) for isbn in candidate_isbns))
    catalogue = books.select(*BOOK_COLUMNS).distinct()
    rows = catalogue.filter(catalogue[BOOK_COLUMN].isin(candidates)).order_by(BOOK_COLUMN)
    rows = rows.mutate(**{ORDER_COLUMN: ibis.row_number().over(order_by=BOOK_COLUMN)}, **{
        field: ibis.literal(profile.get(field), dtype) for field, dtype in PROFILE_FIELDS.items()})
    fitted = FittedFeatures(FieldConfig.from_params(feature_params), title_components, statistics,
                            priors, vocabularies, scaling)
    model_input = fitted.build(rows).execute()
    known = rows.order_by(ORDER_COLUMN).execute()
    if len(known) < len(candidates):
        logger.warning("skipping %d unknown ISBNs: %s", len(candidates) - len(known),
                       sorted(set(candidates) - set(known[BOOK_COLUMN]))[:5])
    if known.empty:
        raise ValueError("none of the candidate ISBNs is a known book")
    known["score"] = predict_frame(model, model_input)
    ranked = known.sort_values(["score", "ISBN"], ascending=[False, True]).head(top_n)
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    return ranked[["rank", "ISBN", "Book-Title", "Book-Author", "score"]].reset_index(drop=True)
