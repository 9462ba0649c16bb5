"""Tiny model inputs shaped like the real ones: numeric and categorical fields, user and item side."""

import numpy as np
import pandas as pd
import pytest

from book_recs.models.feature_spec import FeatureSpec
from book_recs.models.finalmlp import FinalMLPConfig

SPECS = [
    FeatureSpec("Age", "numeric", context="user"),
    FeatureSpec("Book-Title_0", "numeric"),
    FeatureSpec("Book-Title_1", "numeric"),
    FeatureSpec("state", "categorical", vocab_size=5, context="user"),
    FeatureSpec("Book-Author", "categorical", vocab_size=8),
]
SMALL_MODEL = {"embedding_dim": 4, "mlp1_hidden_units": [8], "mlp2_hidden_units": [8],
               "fs_hidden_units": [8], "num_heads": 2}
SMALL = FinalMLPConfig.from_params(SMALL_MODEL)


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows whose label depends on the author and on the user's state: learnable, not trivial."""
    rng = np.random.default_rng(seed)
    author, state = rng.integers(0, 8, n), rng.integers(0, 5, n)
    label = ((author % 2 == 0) ^ (state == 1)).astype(int)
    return pd.DataFrame({
        "User-ID": rng.integers(0, n // 4 + 1, n), "ISBN": [f"b{i}" for i in range(n)],
        "Book-Rating": np.where(label, 9, 4), "label": label,
        "Age": rng.random(n).astype(np.float32), "Book-Title_0": rng.random(n).astype(np.float32),
        "Book-Title_1": rng.random(n).astype(np.float32), "state": state, "Book-Author": author,
    })


@pytest.fixture
def specs() -> list[FeatureSpec]:
    return list(SPECS)


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame(256)
