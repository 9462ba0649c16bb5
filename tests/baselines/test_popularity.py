import numpy as np
import pandas as pd
import pytest

from book_recs.baselines import fit_popularity, predict_popularity

TRAIN = pd.DataFrame({
    "ISBN": pd.Series(["a", "a", "a", "b", "c"], dtype="str"),
    "Book-Author": [1, 1, 1, 1, 0],  # author 0 = out of vocabulary
    "label": [1, 1, 0, 0, 1],
})
BOOK_M, AUTHOR_M = 2.0, 4.0


def _rows(isbns: list[str], authors: list[int], labels: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"ISBN": pd.Series(isbns, dtype="str"), "Book-Author": authors,
                         "label": labels or [0] * len(isbns)})


def test_fallback_chain_matches_hand_computed_rates():
    rates = fit_popularity(TRAIN, "Book-Author", BOOK_M, AUTHOR_M)
    global_rate = 3 / 5
    author_1 = (2 + AUTHOR_M * global_rate) / (4 + AUTHOR_M)  # 2 likes in 4 ratings
    book_a = (2 + BOOK_M * author_1) / (3 + BOOK_M)
    book_c = (1 + BOOK_M * global_rate) / (1 + BOOK_M)  # unknown author: prior is the global rate

    rows = _rows(["a", "c", "zzz", "zzz", "zzz"], [1, 0, 1, 0, 5])
    probability = predict_popularity(rates, rows)

    np.testing.assert_allclose(probability, [book_a, book_c, author_1, global_rate, global_rate])


def test_book_rate_wins_over_the_rows_author_column():
    rates = fit_popularity(TRAIN, "Book-Author", BOOK_M, AUTHOR_M)
    seen_book = predict_popularity(rates, _rows(["a"], [1]))
    same_book_other_author = predict_popularity(rates, _rows(["a"], [5]))
    assert seen_book == same_book_other_author


def test_scores_ignore_the_labels_of_the_scored_rows():
    rates = fit_popularity(TRAIN, "Book-Author", BOOK_M, AUTHOR_M)
    rows = _rows(["a", "b", "x"], [1, 1, 2], labels=[0, 0, 0])
    flipped = rows.assign(label=[1, 1, 1])
    assert np.array_equal(predict_popularity(rates, rows), predict_popularity(rates, flipped))


def test_probabilities_stay_inside_the_open_unit_interval_for_a_one_class_train():
    rates = fit_popularity(TRAIN.assign(label=1), "Book-Author", BOOK_M, AUTHOR_M)
    probability = predict_popularity(rates, _rows(["a", "new"], [1, 9]))
    assert ((probability > 0) & (probability < 1)).all()


@pytest.mark.parametrize("book_m, author_m", [(0.0, 1.0), (1.0, -1.0)])
def test_non_positive_prior_strength_is_rejected(book_m, author_m):
    with pytest.raises(ValueError, match="positive"):
        fit_popularity(TRAIN, "Book-Author", book_m, author_m)
