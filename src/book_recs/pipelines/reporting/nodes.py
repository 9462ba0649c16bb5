"""Reporting nodes: comparison tables, paired differences, figures and top-N recommendations.

Nodes over all models take keyword arguments named ``<model>`` (or ``<model>__<dataset>``),
so the pipeline can wire any list of model namespaces.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from book_recs.evaluation import paired_differences
from book_recs.evaluation.plots import plot_calibration, plot_metric_distribution

logger = logging.getLogger(__name__)

SPLITS = ("valid", "test")
RECOMMENDATION_COLUMNS = ["User-ID", "rank", "ISBN", "Book-Title", "Book-Author", "score"]


def tabulate_model_comparison(**metrics_by_model: dict) -> pd.DataFrame:
    """One row per (model, split, metric): value, interval and the users it was computed on."""
    rows = [{"model": model, "split": split, "metric": name, **values}
            for model, metrics in metrics_by_model.items()
            for split in SPLITS
            for name, values in metrics[split]["metrics"].items()]
    return pd.DataFrame(rows)


def render_comparison_markdown(model_comparison: pd.DataFrame,
                               paired_differences: pd.DataFrame) -> str:
    """Markdown tables, one per split: models as rows, metrics as ``value [low, high]`` cells;
    then, per split, the reference minus each model with its verdict (``verdicts``: win, loss
    or tie for the reference; ``*`` marks a borderline one)."""
    sections = []
    for split, table in model_comparison.groupby("split", sort=False):
        cells = table.assign(cell=[f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                                   zip(table["value"], table["ci_low"], table["ci_high"],
                                       strict=True)])
        sections.append(f"## {split}\n\n" + _markdown_table(cells, "model"))
    for split, table in paired_differences.groupby("split", sort=False):
        reference = table["model_a"].iloc[0]
        cells = table.rename(columns={"model_b": "model"}).assign(cell=[
            f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}] {verdict}{'*' if borderline else ''}"
            for d, lo, hi, verdict, borderline in zip(
                table["difference"], table["ci_low"], table["ci_high"], table["verdict"],
                table["borderline"], strict=True)])
        sections.append(f"## {split}: {reference} minus each model\n\n"
                        + _markdown_table(cells, "model")
                        + "\n\n\\* borderline: an interval end lies within the run-to-run spread "
                          "of 0 (seeds, CPUs), so the verdict may flip on a rerun elsewhere.")
    return "# Model comparison (95% user-bootstrap intervals)\n\n" + "\n\n".join(sections) + "\n"


def _markdown_table(cells: pd.DataFrame, rows: str) -> str:
    """``cells`` (``rows``, ``metric``, ``cell``) as a markdown table, in their order."""
    wide = cells.pivot(index=rows, columns="metric", values="cell").fillna("—")
    wide = wide.reindex(index=cells[rows].unique(), columns=cells["metric"].unique())
    header = f"| {rows} | " + " | ".join(wide.columns) + " |"
    rule = "|---" * (len(wide.columns) + 1) + "|"
    body = ["| " + " | ".join([name, *row.fillna("—")]) + " |" for name, row in wide.iterrows()]
    return "\n".join([header, rule, *body])


def _split_replicates(replicates: pd.DataFrame, split: str) -> pd.DataFrame:
    """One split's bootstrap replicates in resample order."""
    rows = replicates[replicates["split"] == split]
    return rows.sort_values("resample").reset_index(drop=True)


def compute_paired_differences(reference: str, confidence: float, margins: dict[str, float],
                               **datasets) -> pd.DataFrame:
    """Reference model minus every other model, per split and metric, on the same resamples,
    with its ``verdicts``.

    Args:
        reference: the model namespace every other model is compared against.
        confidence: interval level (``params:evaluation.confidence``).
        margins: the run-to-run spread of an interval end, per metric (``default`` for the
            others): ``params:evaluation.borderline_margins``.
        **datasets: ``<model>__metrics`` and ``<model>__replicates`` for every model.
    """
    models = sorted({key.split("__")[0] for key in datasets} - {reference})
    frames = []
    for model in models:
        for split in SPLITS:
            difference = paired_differences(
                datasets[f"{reference}__metrics"][split], datasets[f"{model}__metrics"][split],
                _split_replicates(datasets[f"{reference}__replicates"], split),
                _split_replicates(datasets[f"{model}__replicates"], split), confidence)
            frames.append(difference.assign(model_a=reference, model_b=model, split=split))
    table = verdicts(pd.concat(frames, ignore_index=True), margins)
    return table[["model_a", "model_b", "split", *[c for c in table if c not in
                                                    {"model_a", "model_b", "split"}]]]


def verdicts(differences: pd.DataFrame, margins: dict[str, float]) -> pd.DataFrame:
    """``differences`` with ``verdict`` (``win``, ``loss`` or ``tie`` for model A: its interval
    excludes 0 on A's side, on B's side, or holds it) and ``borderline`` (the interval end
    nearest 0 lies within the metric's margin of it: the run-to-run spread of interval ends
    across seeds and CPUs, so a rerun elsewhere may flip the verdict).

    >>> table = pd.DataFrame({"metric": ["auc", "gauc"], "ci_low": [0.004, -0.00003],
    ...                       "ci_high": [0.01, 0.0137], "a_better": [True, False],
    ...                       "b_better": [False, False]})
    >>> verdicts(table, {"default": 0.001})[["verdict", "borderline"]].values.tolist()
    [['win', False], ['tie', True]]
    """
    margin = differences["metric"].map(lambda metric: margins.get(metric, margins["default"]))
    nearest_end = np.minimum(differences["ci_low"].abs(), differences["ci_high"].abs())
    return differences.assign(
        verdict=np.select([differences["a_better"], differences["b_better"]], ["win", "loss"],
                          "tie"),
        borderline=(nearest_end < margin).to_numpy())


def plot_per_user_ndcg(**per_user_by_model: pd.DataFrame) -> Figure:
    """Per-user nDCG distribution on test, one box per model (the article's Figure 7)."""
    return plot_metric_distribution(per_user_by_model, "ndcg")


def plot_probability_calibration(params: dict, **scores_by_model: pd.DataFrame) -> Figure:
    """Calibration curves of the models that output a probability, on test."""
    return plot_calibration(scores_by_model, params["calibration_bins"])


def recommend_top_n(scores_test: pd.DataFrame, test_ratings: pd.DataFrame,
                    params: dict) -> pd.DataFrame:
    """Top-N books per test user among the books that user rated, ranked by score.

    Ties in score keep ISBN order so the output is deterministic.
    """
    books = test_ratings[["ISBN", "Book-Title", "Book-Author"]].drop_duplicates("ISBN")
    candidates = scores_test[["User-ID", "ISBN", "score"]].drop_duplicates(["User-ID", "ISBN"])
    ranked = candidates.sort_values(["User-ID", "score", "ISBN"], ascending=[True, False, True])
    ranked = ranked.assign(rank=ranked.groupby("User-ID").cumcount() + 1)
    top = ranked[ranked["rank"] <= params["top_n"]].merge(books, on="ISBN", how="left")
    logger.info("%d recommendations for %d users", len(top), top["User-ID"].nunique())
    return top[RECOMMENDATION_COLUMNS].reset_index(drop=True)
