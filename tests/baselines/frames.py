"""Tiny hand-made model-input tables in the shared contract, for the baselines tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from book_recs.baselines import CatBoostConfig
from book_recs.models.feature_spec import FeatureSpec

SPECS = [
    FeatureSpec("Age", "numeric", context="user"),
    FeatureSpec("Book-Title_0", "numeric"),
    FeatureSpec("Book-Title_1", "numeric"),
    FeatureSpec("Book-Author", "categorical", vocab_size=6),
    FeatureSpec("country", "categorical", vocab_size=4, context="user"),
]


def make_model_input(n_users: int, books_per_user: int, seed: int,
                     first_user: int = 1) -> pd.DataFrame:
    """Rows whose rating rises with ``Book-Title_0`` (a learnable signal), users interleaved.

    Users' rows are shuffled together so a model that needs contiguous groups must sort them.
    """
    rng = np.random.default_rng(seed)
    n = n_users * books_per_user
    users = np.repeat(np.arange(first_user, first_user + n_users), books_per_user)
    signal = rng.random(n).astype("float32")
    rating = np.clip(np.round(1 + 9 * signal + rng.normal(0, 0.5, n)), 1, 10).astype("int64")
    frame = pd.DataFrame({
        "User-ID": users.astype("int64"),
        "ISBN": pd.Series([f"isbn{i % 40:03d}" for i in rng.integers(0, 10_000, n)], dtype="str"),
        "Book-Rating": rating,
        "label": (rating > 7).astype("int64"),
        "Age": rng.random(n).astype("float32"),
        "Book-Title_0": signal,
        "Book-Title_1": rng.random(n).astype("float32"),
        "Book-Author": rng.integers(0, 6, n).astype("int64"),
        "country": rng.integers(0, 4, n).astype("int64"),
    })
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def catboost_params(ranker: bool, **overrides: object) -> dict[str, object]:
    """Small, fast CatBoost parameters for tests (one thread: deterministic and polite); the
    ranker's include its early-stopping metric."""
    params = {"iterations": 40, "learning_rate": 0.2, "depth": 3, "l2_leaf_reg": 3.0,
              "thread_count": 1, "random_seed": 7, "early_stopping_rounds": 20, "log_every": 10,
              **({"eval_metric": "NDCG:top=5;type=Base"} if ranker else {})}
    params.update(overrides)
    return params


def catboost_config(ranker: bool, **overrides: object) -> CatBoostConfig:
    """``catboost_params`` as the typed config the fit functions take."""
    return CatBoostConfig.from_params(catboost_params(ranker, **overrides))
