"""Ranking candidate books for a new user profile, the way an application calls the model."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from book_recs.features import FeatureTransformers, build_model_input
from book_recs.models.inference import predict_frame

logger = logging.getLogger(__name__)

BOOK_COLUMNS = ["ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"]
PROFILE_FIELDS = ("Age", "state", "country")


def rank_candidates(
    profile: dict[str, Any],
    candidate_isbns: list[str],
    books: pd.DataFrame,
    title_embeddings: pd.DataFrame,
    transformers: FeatureTransformers,
    model: Any,
    top_n: int,
) -> pd.DataFrame:
    """Score each candidate book for a user profile and return the best ``top_n``, best first.

    Args:
        profile: ``Age`` (or null), ``state``, ``country``: a new, cold-start user.
        candidate_isbns: Books to rank; unknown ISBNs are reported and skipped.
        books: Book rows with ``BOOK_COLUMNS`` (e.g. the cleaned ratings).
        title_embeddings: The title cache; titles missing from it get the train-median components.
        transformers, model: The fitted feature transformers and model (it knows the fields it reads).
        top_n: How many books to return.

    Returns:
        rank, ISBN, Book-Title, Book-Author, score (probability that the user rates it > 7).
    """
    unknown_fields = set(profile) - set(PROFILE_FIELDS)
    if unknown_fields:
        raise ValueError(f"profile fields must be among {PROFILE_FIELDS}, got {sorted(unknown_fields)}")
    catalogue = books[BOOK_COLUMNS].drop_duplicates("ISBN").set_index("ISBN")
    candidates = list(dict.fromkeys(str(isbn) for isbn in candidate_isbns))
    known = [isbn for isbn in candidates if isbn in catalogue.index]
    if len(known) < len(candidates):
        logger.warning("skipping %d unknown ISBNs: %s", len(candidates) - len(known),
                       sorted(set(candidates) - set(known))[:5])
    if not known:
        raise ValueError("none of the candidate ISBNs is a known book")
    rows = catalogue.loc[known].reset_index()
    for field in PROFILE_FIELDS:
        rows[field] = profile.get(field)
    rows["Age"] = pd.to_numeric(rows["Age"], errors="coerce")
    model_input = build_model_input(rows, title_embeddings, transformers)
    rows["score"] = predict_frame(model, model_input)
    ranked = rows.sort_values(["score", "ISBN"], ascending=[False, True]).head(top_n)
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    return ranked[["rank", "ISBN", "Book-Title", "Book-Author", "score"]].reset_index(drop=True)
