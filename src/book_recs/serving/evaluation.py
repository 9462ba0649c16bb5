"""What the two-stage recommender gives the readers of a split, from the whole catalogue.

The per-model evaluation re-ranks the books each test user rated; here the recommender picks
each reader's top N from its K candidates, as a served request does, and a liked book (label 1)
counts wherever it is in the catalogue: a liked book outside the candidates is a miss the
candidate stage caused. Per split:

- ``candidate_recall``: the share of the readers' liked books (pairs) that are candidates;
- ``nDCG@N`` (binary gains: a liked book 1, any other 0) and ``Recall@N`` (share of a reader's
  liked books in the top N) over the readers with a liked book, for the recommender, for the
  popularity baseline ranking the same candidates, and for the candidate order alone; user
  bootstrap intervals and paired differences as in ``book_recs.evaluation.bootstrap``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from book_recs.baselines.popularity import PopularityRates, predict_popularity
from book_recs.columns import BOOK_COLUMN, LABEL_COLUMN, RATING_COLUMN, USER_COLUMN
from book_recs.evaluation.bootstrap import evaluate_scores, paired_differences
from book_recs.serving.recommender import PROFILE_FIELDS, READER_COLUMN, TOP_N_FIELD, Recommender

SCORE = "score"


def liked_books(ratings: pd.DataFrame) -> pd.DataFrame:
    """The (``User-ID``, ``ISBN``) pairs of ``ratings`` with label 1."""
    return ratings.loc[ratings[LABEL_COLUMN] == 1, [USER_COLUMN, BOOK_COLUMN]].drop_duplicates()


def reader_profiles(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The distinct profiles (Age, state, country) of the users of ``ratings``, one row each in
    ``reader`` order 0..P-1, and each user's profile (``User-ID``, ``reader``): users sharing a
    profile share a list, so each profile is scored once."""
    users = ratings.drop_duplicates(USER_COLUMN)[[USER_COLUMN, *PROFILE_FIELDS]]
    profile_id = users.groupby(list(PROFILE_FIELDS), dropna=False, sort=False).ngroup().to_numpy()
    profiles = (users.assign(**{READER_COLUMN: profile_id}).drop_duplicates(READER_COLUMN)
                .sort_values(READER_COLUMN)[list(PROFILE_FIELDS)].reset_index(drop=True))
    return profiles, pd.DataFrame({USER_COLUMN: users[USER_COLUMN].to_numpy(),
                                   READER_COLUMN: profile_id})


def readers_top_n(recommender: Recommender, ratings: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """The recommender's top ``top_n`` for every user of ``ratings`` (their profile: Age,
    state, country; nothing left out): ``User-ID``, ``rank``, ``ISBN``. All the profiles at
    once, as no request may: the request limits do not apply."""
    profiles, users = reader_profiles(ratings)
    answer = recommender.recommend(profiles.assign(**{TOP_N_FIELD: top_n}), check_limits=False)
    return users.merge(answer[[READER_COLUMN, "rank", BOOK_COLUMN]], on=READER_COLUMN)[
        [USER_COLUMN, "rank", BOOK_COLUMN]]


def same_list_for_everyone(ratings: pd.DataFrame, isbns: list[str]) -> pd.DataFrame:
    """One ranked list for every user of ``ratings``: ``User-ID``, ``rank``, ``ISBN``."""
    users = ratings[USER_COLUMN].unique()
    return pd.DataFrame({USER_COLUMN: np.repeat(users, len(isbns)),
                         "rank": np.tile(np.arange(1, len(isbns) + 1), len(users)),
                         BOOK_COLUMN: np.tile(np.asarray(isbns, dtype=object), len(users))})


def popularity_top_n(candidates: pd.DataFrame, rates: PopularityRates, top_n: int) -> list[str]:
    """The ``candidates`` (``ISBN`` and the author id column) the popularity baseline rates
    highest (ties by ISBN), best first."""
    rows = candidates[[BOOK_COLUMN, rates.author_column]].copy()
    rows[SCORE] = predict_popularity(rates, rows)
    return rows.sort_values([SCORE, BOOK_COLUMN], ascending=[False, True])[BOOK_COLUMN].head(
        top_n).tolist()


def top_n_scores(recommended: pd.DataFrame, liked: pd.DataFrame) -> pd.DataFrame:
    """A score table the project's metrics read: per reader with a liked book, the top-N rows
    (score N+1-rank) and the liked books left out of it (score 0); gains and labels are 1 for a
    liked book, else 0."""
    readers = liked[USER_COLUMN].unique()
    shown = recommended[recommended[USER_COLUMN].isin(readers)]
    hit = shown.merge(liked.assign(_hit=1)[[USER_COLUMN, BOOK_COLUMN, "_hit"]],
                      on=[USER_COLUMN, BOOK_COLUMN], how="left")["_hit"].fillna(0).to_numpy()
    missed = liked.merge(shown[[USER_COLUMN, BOOK_COLUMN]], on=[USER_COLUMN, BOOK_COLUMN],
                         how="left", indicator=True)
    missed = missed[missed["_merge"] == "left_only"]
    top_n = int(recommended["rank"].max())
    table = pd.concat([
        pd.DataFrame({USER_COLUMN: shown[USER_COLUMN].to_numpy(), LABEL_COLUMN: hit,
                      SCORE: (top_n + 1 - shown["rank"]).to_numpy(dtype=float)}),
        pd.DataFrame({USER_COLUMN: missed[USER_COLUMN].to_numpy(), LABEL_COLUMN: 1.0,
                      SCORE: 0.0}),
    ], ignore_index=True)
    table[RATING_COLUMN] = table[LABEL_COLUMN]
    return table


def candidate_lists(readers: pd.DataFrame, candidates: pd.DataFrame, rates: PopularityRates,
                    top_n: int) -> dict[str, pd.DataFrame]:
    """The baselines' lists over ``candidates`` (``ISBN``, author id, best first by the candidate
    rule), the same for every reader: popularity's top N, and the candidate order's."""
    return {"popularity": same_list_for_everyone(readers, popularity_top_n(candidates, rates, top_n)),
            "candidate_order": same_list_for_everyone(
                readers, candidates[BOOK_COLUMN].head(top_n).tolist())}


def evaluate_split(recommender: Recommender, ratings: pd.DataFrame, rates: PopularityRates,
                   reference: str, top_n: int, n_resamples: int, seed: int,
                   confidence: float) -> dict:
    """Candidate recall and the top-N metrics of the recommender (``reference``: the model's
    name), of popularity and of the candidate order alone, for the readers of one split."""
    liked = liked_books(ratings)
    # Only the readers with a liked book count in the metrics: the others are not scored.
    readers = ratings[ratings[USER_COLUMN].isin(liked[USER_COLUMN])]
    candidates = recommender.candidates[[BOOK_COLUMN]].assign(
        **{rates.author_column: recommender.item_features[rates.author_column]})
    lists = {reference: readers_top_n(recommender, readers, top_n),
             **candidate_lists(readers, candidates, rates, top_n)}
    return evaluate_lists(lists, liked, candidates[BOOK_COLUMN], reference, top_n, n_resamples,
                          seed, confidence)


def evaluate_lists(lists: dict[str, pd.DataFrame], liked: pd.DataFrame, candidates: pd.Series,
                   reference: str, top_n: int, n_resamples: int, seed: int,
                   confidence: float) -> dict:
    """Candidate recall of ``candidates`` (ISBNs) and the top-N metrics of every list of the
    readers of ``liked`` (``User-ID``, ``rank``, ``ISBN`` per list), ``reference``'s minus each
    other list's."""
    metrics = [f"ndcg@{top_n}", f"recall@{top_n}"]
    summaries, replicates = {}, {}
    for name, recommended in lists.items():
        summaries[name], replicates[name], _ = evaluate_scores(
            top_n_scores(recommended, liked), [top_n], n_resamples, seed, confidence)
    differences = {
        baseline: paired_differences(summaries[reference], summaries[baseline],
                                     replicates[reference], replicates[baseline], confidence)
        .set_index("metric").loc[metrics, ["difference", "ci_low", "ci_high"]]
        .to_dict(orient="index")
        for baseline in lists if baseline != reference}
    return {
        "readers": int(liked[USER_COLUMN].nunique()),
        "liked_books": len(liked),
        "candidate_recall": float(liked[BOOK_COLUMN].isin(candidates).mean()),
        "models": {name: {metric: summary["metrics"][metric] for metric in metrics}
                   for name, summary in summaries.items()},
        f"{reference}_minus": differences,
    }
