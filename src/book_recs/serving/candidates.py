"""The candidate stage of the recommender: the K books a request ranks, chosen on train only.

Ranking the whole catalogue (118k books on the full data) with a 5-model ensemble costs seconds per
reader, so the recommender ranks a fixed set of K candidates: the books the train split liked
most (``most_liked``: likes, then ratings) or rated most (``most_rated``: ratings, then likes),
ties by ISBN. Nothing of the valid or test split enters. Each candidate also gets its
``read_share``: the share of the train readers who rated it (how likely a reader is to read it,
which the ranking model, trained on rated books only, does not know).

Example:
    >>> import ibis
    >>> train = ibis.memtable({"User-ID": [1, 2, 1, 1, 2, 3], "ISBN": ["a", "a", "b", "c", "c", "c"],
    ...                        "label": [1, 1, 0, 1, 0, 0]})
    >>> select_candidates(train, CandidateConfig("most_liked", k=2)).execute()["ISBN"].tolist()
    ['a', 'c']
    >>> select_candidates(train, CandidateConfig("most_rated", k=2)).execute()["ISBN"].tolist()
    ['c', 'a']
    >>> select_candidates(train, CandidateConfig("most_rated", k=2)).execute()["read_share"].tolist()
    [1.0, 0.6666666666666666]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from book_recs.columns import BOOK_COLUMN, LABEL_COLUMN, USER_COLUMN

CANDIDATE_RANK, READ_SHARE = "candidate_rank", "read_share"
Rule = Literal["most_liked", "most_rated"]
# Each rule's sort keys, best first; the ISBN breaks the remaining ties.
RULE_ORDER: dict[str, tuple[str, ...]] = {"most_liked": ("train_likes", "train_ratings"),
                                          "most_rated": ("train_ratings", "train_likes")}


@dataclass(frozen=True)
class CandidateConfig:
    """Which books the recommender ranks.

    Attributes:
        rule: ``most_liked`` or ``most_rated`` (train counts).
        k: How many books.
    """

    rule: Rule = "most_liked"
    k: int = 500

    def __post_init__(self) -> None:
        if self.rule not in RULE_ORDER:
            raise ValueError(f"candidate rule must be one of {sorted(RULE_ORDER)}, got {self.rule!r}")
        if self.k < 1:
            raise ValueError(f"candidate k must be at least 1, got {self.k}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CandidateConfig:
        """From ``recommendation.candidates`` (``rule``, ``k``)."""
        return cls(rule=params["rule"], k=int(params["k"]))


def select_candidates(train: ir.Table, config: CandidateConfig) -> ir.Table:
    """The ``config.k`` candidate books of the train ratings, best first.

    Returns:
        ``ISBN``, ``train_ratings``, ``train_likes``, ``read_share`` (``train_ratings`` over the
        train readers) and ``candidate_rank`` (1..K), ordered by it (fewer rows when train has
        fewer books).
    """
    counts = train.group_by(BOOK_COLUMN).aggregate(
        train_ratings=train.count(), train_likes=train[LABEL_COLUMN].sum().cast("int64"))
    readers = train[USER_COLUMN].nunique()
    order = [ibis.desc(key) for key in RULE_ORDER[config.rule]] + [BOOK_COLUMN]
    ranked = counts.mutate(**{READ_SHARE: counts.train_ratings / readers,
                              CANDIDATE_RANK: ibis.row_number().over(order_by=order) + 1})
    return ranked.filter(ranked[CANDIDATE_RANK] <= config.k).order_by(CANDIDATE_RANK)
