import pandas as pd

from book_recs.pipelines.reporting.nodes import (
    recommend_top_n,
    render_comparison_markdown,
    verdicts,
)
from tests.evaluation.frames import make_scores


def _test_ratings(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.assign(**{"Book-Title": "title " + scores["ISBN"],
                            "Book-Author": "author " + scores["ISBN"]})


def test_top_n_is_sorted_unique_and_only_candidate_books():
    scores = make_scores(40, seed=3)
    duplicated = pd.concat([scores, scores.head(5)], ignore_index=True)
    top = recommend_top_n(duplicated, _test_ratings(scores), {"top_n": 3})
    assert not top.duplicated(["User-ID", "ISBN"]).any()
    assert top.groupby("User-ID")["rank"].max().le(3).all()
    assert (top.groupby("User-ID")["score"].diff().dropna() <= 0).all()
    candidates = set(zip(scores["User-ID"], scores["ISBN"], strict=True))
    assert set(zip(top["User-ID"], top["ISBN"], strict=True)) <= candidates
    best = scores.sort_values(["User-ID", "score"], ascending=[True, False]).groupby("User-ID").head(1)
    assert top[top["rank"] == 1]["ISBN"].tolist() == best["ISBN"].tolist()
    assert (top["Book-Title"] == "title " + top["ISBN"]).all()


def test_markdown_has_one_table_per_split_with_intervals_and_verdicts():
    table = pd.DataFrame({"model": ["a", "b", "a"], "split": ["valid", "valid", "test"],
                          "metric": ["auc", "auc", "auc"], "value": [0.6, 0.5, 0.7],
                          "ci_low": [0.55, 0.45, 0.65], "ci_high": [0.65, 0.55, 0.75],
                          "n_users": [10, 10, 10]})
    pairs = verdicts(pd.DataFrame({
        "model_a": ["a", "a"], "model_b": ["b", "b"], "split": ["valid", "valid"],
        "metric": ["auc", "gauc"], "difference": [0.1, 0.01], "ci_low": [0.05, 0.0005],
        "ci_high": [0.15, 0.02], "a_better": [True, True], "b_better": [False, False]}),
        {"default": 0.001})
    markdown = render_comparison_markdown(table, pairs)
    assert "## valid" in markdown and "## test" in markdown
    assert "| a | 0.6000 [0.5500, 0.6500] |" in markdown
    assert "## valid: a minus each model" in markdown
    assert "| b | +0.1000 [+0.0500, +0.1500] win | +0.0100 [+0.0005, +0.0200] win* |" in markdown


def test_a_verdict_is_borderline_when_an_interval_end_is_within_the_margin_of_zero():
    table = pd.DataFrame({"metric": ["auc", "auc", "logloss", "gauc"],
                          "ci_low": [0.003, -0.01, 0.0001, -0.02],
                          "ci_high": [0.01, -0.0015, 0.004, 0.03],
                          "a_better": [True, False, False, False],
                          "b_better": [False, True, True, False]})
    labelled = verdicts(table, {"auc": 0.002, "default": 0.0005})
    assert labelled["verdict"].tolist() == ["win", "loss", "loss", "tie"]
    assert labelled["borderline"].tolist() == [False, True, True, False]
