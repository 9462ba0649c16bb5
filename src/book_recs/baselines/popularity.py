"""Popularity baseline: how often a book is liked in train, smoothed toward its author's rate.

Rates are Bayesian averages (beta-prior means). With ``g`` the train positive rate,

- author rate ``a = (positives_author + m_author * g) / (ratings_author + m_author)``,
- book rate ``b = (positives_book + m_book * a) / (ratings_book + m_book)``, where ``a`` is the rate
  of the book's author (``g`` when the author id is the out-of-vocabulary id).

A row is scored by its book's rate when the book was rated in train, else by its author's rate when
the author was rated in train, else by ``g``. Only train labels are used.

Example:
    >>> import pandas as pd
    >>> train = pd.DataFrame(
    ...     {"ISBN": ["a", "a", "b"], "Book-Author": [1, 1, 2], "label": [1, 1, 0]})
    >>> rates = fit_popularity(train, "Book-Author", book_prior_strength=1, author_prior_strength=1)
    >>> round(rates.global_rate, 3)
    0.667
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from book_recs.columns import BOOK_COLUMN, LABEL_COLUMN
from book_recs.models.feature_spec import OOV_ID

# Keeps probabilities inside (0, 1) even when train has a single class.
PROBABILITY_EPSILON = 1e-6


@dataclass(frozen=True)
class PopularityRates:
    """Smoothed positive rates fitted on train.

    Attributes:
        author_column: Column holding the author id (int, ``OOV_ID`` = unknown author).
        global_rate: Positive rate over all train rows.
        author_rates: Smoothed rate per author id seen in train (``OOV_ID`` excluded).
        book_rates: Smoothed rate per ISBN seen in train.
    """

    author_column: str
    global_rate: float
    author_rates: pd.Series
    book_rates: pd.Series


def _smoothed(positives: pd.Series, counts: pd.Series, prior: pd.Series | float,
              strength: float) -> pd.Series:
    return (positives + strength * prior) / (counts + strength)


def fit_popularity(
    train: pd.DataFrame,
    author_column: str,
    book_prior_strength: float,
    author_prior_strength: float,
) -> PopularityRates:
    """Fit the smoothed book, author and global positive rates on the train rows.

    Args:
        train: Train rows with ``ISBN``, ``label`` and ``author_column``.
        author_column: Name of the author id column.
        book_prior_strength: Pseudo-ratings pulling a book's rate toward its author's rate.
        author_prior_strength: Pseudo-ratings pulling an author's rate toward the global rate.

    Returns:
        The fitted rates.
    """
    if book_prior_strength <= 0 or author_prior_strength <= 0:
        raise ValueError("prior strengths must be positive")
    if train.empty:
        raise ValueError("cannot fit popularity on an empty train table")
    global_rate = float(train[LABEL_COLUMN].mean())

    known_authors = train[train[author_column] != OOV_ID]
    by_author = known_authors.groupby(author_column)[LABEL_COLUMN].agg(["sum", "count"])
    author_rates = _smoothed(by_author["sum"], by_author["count"], global_rate,
                             author_prior_strength)

    by_book = train.groupby(BOOK_COLUMN).agg(
        positives=(LABEL_COLUMN, "sum"), ratings=(LABEL_COLUMN, "count"),
        author=(author_column, "first"),
    )
    book_prior = by_book["author"].map(author_rates).fillna(global_rate)
    book_rates = _smoothed(by_book["positives"], by_book["ratings"], book_prior,
                           book_prior_strength)
    return PopularityRates(author_column, global_rate, author_rates.rename("rate"),
                           book_rates.rename("rate"))


def predict_popularity(rates: PopularityRates, rows: pd.DataFrame) -> np.ndarray:
    """Probability of a like per row: book rate, else author rate, else the global rate.

    Reads only ``ISBN`` and the author id column of ``rows``, never their labels.
    """
    book = rows[BOOK_COLUMN].map(rates.book_rates)
    author = rows[rates.author_column].map(rates.author_rates)
    probability = book.fillna(author).fillna(rates.global_rate).to_numpy(dtype="float64")
    return np.clip(probability, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
