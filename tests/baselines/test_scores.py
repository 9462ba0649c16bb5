import numpy as np
import pandas as pd
import pytest

from book_recs.baselines import random_scores, scores_frame
from book_recs.columns import KEY_COLUMNS
from tests.baselines.frames import make_model_input


def test_scores_frame_keeps_keys_row_order_and_adds_score_columns():
    rows = make_model_input(n_users=3, books_per_user=4, seed=0)
    rows.index = rows.index + 100  # a non-default index must not leak into the output
    score = np.arange(len(rows), dtype="float64")

    scores = scores_frame(rows, score, probability=score / 100)

    assert list(scores.columns) == [*KEY_COLUMNS, "score", "probability"]
    assert list(scores.index) == list(range(len(rows)))
    expected_keys = rows[list(KEY_COLUMNS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(scores[list(KEY_COLUMNS)], expected_keys)
    assert scores["score"].tolist() == score.tolist()


def test_scores_frame_without_probability_has_no_probability_column():
    rows = make_model_input(n_users=2, books_per_user=2, seed=0)
    assert "probability" not in scores_frame(rows, np.zeros(len(rows))).columns


def test_scores_frame_rejects_a_length_mismatch():
    rows = make_model_input(n_users=2, books_per_user=2, seed=0)
    with pytest.raises(ValueError, match="scores for"):
        scores_frame(rows, np.zeros(len(rows) - 1))


def test_random_scores_depend_only_on_the_seed():
    assert np.array_equal(random_scores(50, seed=3), random_scores(50, seed=3))
    assert not np.array_equal(random_scores(50, seed=3), random_scores(50, seed=4))
    assert ((random_scores(50, seed=3) >= 0) & (random_scores(50, seed=3) < 1)).all()
