import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, ndcg_score, roc_auc_score

from book_recs.evaluation import (
    RankedScores,
    average_auc,
    evaluate_scores,
    group_auc,
    per_user_metrics,
    resample_user_counts,
    weighted_auc,
)
from book_recs.evaluation.metrics import per_user_ndcg
from tests.evaluation.frames import make_scores


def _table(users, ratings, scores):
    ratings = np.asarray(ratings)
    return pd.DataFrame({"User-ID": users, "Book-Rating": ratings,
                         "label": (ratings > 7).astype(int), "score": np.asarray(scores, float)})


@pytest.mark.parametrize("score_levels", [None, 3])
@pytest.mark.parametrize("k", [None, 3, 10])
def test_grouped_ndcg_equals_sklearn_per_user_with_and_without_ties(score_levels, k):
    scores = make_scores(60, seed=1, score_levels=score_levels)
    column = "ndcg" if k is None else f"ndcg@{k}"
    got = per_user_metrics(scores, [3, 10])[column]
    for user, rows in scores.groupby("User-ID"):
        if len(rows) < 2:
            assert np.isnan(got[user])
            continue
        expected = ndcg_score([rows["Book-Rating"]], [rows["score"]], k=k)
        assert got[user] == pytest.approx(expected, abs=1e-12), user


def test_ndcg_of_tied_scores_averages_the_orders():
    # All scores tied: gain mean 6.5 times the two discounts, over the ideal 10 + 3/log2(3).
    table = _table([1, 1], [10, 3], [0.5, 0.5])
    expected = 6.5 * (1 + 1 / np.log2(3)) / (10 + 3 / np.log2(3))
    assert per_user_ndcg(RankedScores(table))[0] == pytest.approx(expected)


def test_user_with_one_book_or_one_class_is_left_out():
    table = _table([1, 2, 2, 3, 3], [9, 9, 10, 2, 9], [1, 2, 1, 5, 6])
    metrics = per_user_metrics(table, [3])
    assert np.isnan(metrics.loc[1, "ndcg"]) and np.isnan(metrics.loc[1, "auc"])
    assert np.isnan(metrics.loc[2, "auc"]) and not np.isnan(metrics.loc[2, "ndcg"])
    assert metrics.loc[3, "auc"] == 1.0


def test_recall_at_k_by_hand():
    # User 1: positives at ranks 1 and 4 -> recall@3 = 1/2; user 2: no positive -> undefined;
    # user 3: a tie of 2 books over ranks 3-4, one positive -> expected found 1/2.
    table = _table([1, 1, 1, 1, 2, 2, 3, 3, 3, 3], [9, 2, 3, 10, 2, 3, 1, 2, 9, 3],
                   [4, 3, 2, 1, 1, 2, 4, 3, 1, 1])
    recall = per_user_metrics(table, [3])["recall@3"]
    assert recall[1] == 0.5 and np.isnan(recall[2]) and recall[3] == 0.5


def test_per_user_auc_matches_sklearn_with_ties():
    scores = make_scores(50, seed=2, score_levels=4)
    auc = per_user_metrics(scores, [3])["auc"]
    for user, rows in scores.groupby("User-ID"):
        if rows["label"].nunique() == 2:
            assert auc[user] == pytest.approx(roc_auc_score(rows["label"], rows["score"]))


def test_weighted_auc_matches_sklearn_sample_weight():
    scores = make_scores(40, seed=3, score_levels=5)
    weights = np.random.default_rng(0).integers(0, 3, (4, len(scores))).astype(float)
    got = weighted_auc(scores["score"].to_numpy(), scores["label"].to_numpy(), weights)
    expected = [roc_auc_score(scores["label"], scores["score"], sample_weight=w) for w in weights]
    np.testing.assert_allclose(got, expected)


def test_point_estimates_match_sklearn_and_count_users():
    scores = make_scores(40, seed=4)
    summary, _, per_user = evaluate_scores(scores, [3, 10], 50, seed=0, confidence=0.95)
    metrics = summary["metrics"]
    assert metrics["auc"]["value"] == pytest.approx(roc_auc_score(scores["label"], scores["score"]))
    assert metrics["logloss"]["value"] == pytest.approx(log_loss(scores["label"],
                                                                 scores["probability"]))
    assert metrics["gauc"]["n_users"] == per_user["auc"].notna().sum() < summary["n_users"]
    assert metrics["avgauc"]["n_users"] == metrics["gauc"]["n_users"]
    assert metrics["avgauc"]["value"] == pytest.approx(per_user["auc"].mean())
    assert metrics["ndcg"]["n_users"] == (scores.groupby("User-ID").size() >= 2).sum()


def test_logloss_only_with_probabilities():
    summary, replicates, _ = evaluate_scores(make_scores(20, with_probability=False), [3], 20, 0, 0.95)
    assert "logloss" not in summary["metrics"] and "logloss" not in replicates


def _sklearn_user_aucs(scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users with both classes, their sklearn AUC and their row counts (FuxiCTR's recipe)."""
    users, aucs, rows = [], [], []
    for user, group in scores.groupby("User-ID"):
        if group["label"].nunique() == 2:
            users.append(user)
            aucs.append(roc_auc_score(group["label"], group["score"]))
            rows.append(len(group))
    return np.array(users), np.array(aucs), np.array(rows, dtype=float)


def test_gauc_weighs_users_by_rows_and_avgauc_does_not_as_in_fuxictr():
    scores = make_scores(80, seed=9, score_levels=6)
    _, aucs, rows = _sklearn_user_aucs(scores)
    summary, _, _ = evaluate_scores(scores, [3], 20, seed=0, confidence=0.95)
    metrics = summary["metrics"]
    expected_gauc, expected_avgauc = (aucs * rows).sum() / rows.sum(), aucs.mean()
    assert abs(expected_gauc - expected_avgauc) > 1e-3  # the fixture tells the two apart
    assert metrics["gauc"]["value"] == pytest.approx(expected_gauc, abs=1e-12)
    assert metrics["avgauc"]["value"] == pytest.approx(expected_avgauc, abs=1e-12)
    assert metrics["gauc"]["n_users"] == metrics["avgauc"]["n_users"] == len(aucs)
    arrays = scores["User-ID"].to_numpy(), scores["label"].to_numpy(), scores["score"].to_numpy()
    assert group_auc(*arrays) == pytest.approx(expected_gauc, abs=1e-12)
    assert average_auc(*arrays) == pytest.approx(expected_avgauc, abs=1e-12)


def test_bootstrap_gauc_counts_a_user_drawn_twice_with_twice_their_rows():
    scores = make_scores(50, seed=12)
    summary, replicates, per_user = evaluate_scores(scores, [3], 5, seed=3, confidence=0.95)
    counts = resample_user_counts(len(per_user), 5, seed=3)
    users, aucs, rows = _sklearn_user_aucs(scores)
    drawn = counts[:, per_user.index.get_indexer(users)]
    expected = (drawn * aucs * rows).sum(axis=1) / (drawn * rows).sum(axis=1)
    np.testing.assert_allclose(replicates["gauc"], expected, rtol=1e-12)
    np.testing.assert_allclose(replicates["avgauc"],
                               (drawn * aucs).sum(axis=1) / drawn.sum(axis=1), rtol=1e-12)


def test_grouped_aucs_are_nan_without_a_user_of_both_classes():
    users, labels, scores = np.array([1, 1, 2]), np.array([1, 1, 0]), np.array([0.2, 0.3, 0.4])
    assert np.isnan(group_auc(users, labels, scores)) and np.isnan(average_auc(users, labels, scores))
