import numpy as np
import pytest

from book_recs.evaluation import (
    evaluate_scores,
    paired_differences,
    resample_user_counts,
    summarise_per_user,
)
from tests.evaluation.frames import make_scores


def test_resample_counts_are_seeded_and_draw_every_user_total():
    counts = resample_user_counts(25, 30, seed=7)
    assert counts.shape == (30, 25) and (counts.sum(axis=1) == 25).all()
    np.testing.assert_array_equal(counts, resample_user_counts(25, 30, seed=7))
    assert not np.array_equal(counts, resample_user_counts(25, 30, seed=8))


def test_same_seed_same_intervals_and_intervals_cover_the_point():
    scores = make_scores(60, seed=5)
    first, replicates, _ = evaluate_scores(scores, [3, 10], 200, seed=1, confidence=0.95)
    second, _, _ = evaluate_scores(scores, [3, 10], 200, seed=1, confidence=0.95)
    assert first == second
    assert len(replicates) == 200
    for name, metric in first["metrics"].items():
        assert metric["ci_low"] <= metric["value"] <= metric["ci_high"], name
        if name != "recall@10":  # every user has <= 8 books: recall@10 is always 1
            assert metric["ci_low"] < metric["ci_high"], name


def test_paired_difference_with_itself_is_exactly_zero():
    scores = make_scores(40, seed=6)
    summary, replicates, _ = evaluate_scores(scores, [3], 100, seed=1, confidence=0.95)
    table = paired_differences(summary, summary, replicates, replicates, 0.95)
    assert (table[["difference", "ci_low", "ci_high"]] == 0).all().all()
    assert not table["a_better"].any() and not table["b_better"].any()


def test_paired_difference_detects_a_better_model_and_refuses_unpaired_users():
    scores = make_scores(200, seed=7)
    oracle = scores.assign(score=scores["Book-Rating"] + 0.0)
    noise = scores.assign(score=np.random.default_rng(0).normal(size=len(scores)))
    good, good_reps, _ = evaluate_scores(oracle.drop(columns="probability"), [3], 200, 1, 0.95)
    bad, bad_reps, _ = evaluate_scores(noise.drop(columns="probability"), [3], 200, 1, 0.95)
    table = paired_differences(good, bad, good_reps, bad_reps, 0.95).set_index("metric")
    assert table.loc["auc", "a_better"] and table.loc["ndcg", "difference"] > 0
    other, other_reps, _ = evaluate_scores(make_scores(30, seed=8), [3], 200, 1, 0.95)
    with pytest.raises(ValueError, match="different users"):
        paired_differences(good, other, good_reps, other_reps, 0.95)


def test_per_user_summaries_resample_users_as_the_score_evaluation_does():
    scores = make_scores(50, seed=9)
    summary, replicates, per_user = evaluate_scores(scores, [3], 150, seed=4, confidence=0.9)
    shuffled = per_user.sample(frac=1.0, random_state=0)  # any row order: users are sorted
    again, again_replicates = summarise_per_user(shuffled, ["ndcg@3", "recall@3"], 150, 4, 0.9)
    assert again["users_fingerprint"] == summary["users_fingerprint"]
    for name in ("ndcg@3", "recall@3"):
        assert again["metrics"][name] == summary["metrics"][name]
        np.testing.assert_array_equal(again_replicates[name], replicates[name])
    table = paired_differences(again, summary, again_replicates, replicates, 0.9)
    assert set(table["metric"]) == {"ndcg@3", "recall@3"} and (table["difference"] == 0).all()
