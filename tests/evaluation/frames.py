"""Hand-made score tables shared by the evaluation and reporting tests."""

import numpy as np
import pandas as pd


def make_scores(n_users: int = 30, seed: int = 0, with_probability: bool = True,
                score_levels: int | None = None) -> pd.DataFrame:
    """A score table with 1-8 books per user; ``score_levels`` rounds scores to force ties."""
    rng = np.random.default_rng(seed)
    books_per_user = rng.integers(1, 9, n_users)
    users = np.repeat(np.arange(1, n_users + 1) * 10, books_per_user)
    rating = rng.integers(1, 11, len(users))
    score = rating + rng.normal(0, 4, len(users))
    if score_levels:
        score = np.round(score / (12 / score_levels))
    frame = pd.DataFrame({"User-ID": users.astype("int64"),
                          "ISBN": [f"isbn{i % 40:03d}" for i in range(len(users))],
                          "Book-Rating": rating.astype("int64"),
                          "label": (rating > 7).astype("int64"), "score": score})
    frame = frame.drop_duplicates(["User-ID", "ISBN"]).reset_index(drop=True)
    if with_probability:
        frame["probability"] = 1 / (1 + np.exp(-(frame["score"] - 6) / 3))
    return frame
