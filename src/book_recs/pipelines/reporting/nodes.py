"""Reporting nodes: comparison tables, paired differences, figures and top-N recommendations.

Nodes over all models take keyword arguments named ``<model>`` (or ``<model>__<dataset>``),
so the pipeline can wire any list of model namespaces.
"""

from __future__ import annotations

import logging

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


def render_comparison_markdown(model_comparison: pd.DataFrame) -> str:
    """Markdown tables (one per split): models as rows, metrics as ``value [low, high]`` cells."""
    sections = []
    for split, table in model_comparison.groupby("split", sort=False):
        cells = table.assign(cell=[f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                                   zip(table["value"], table["ci_low"], table["ci_high"],
                                       strict=True)])
        wide = cells.pivot(index="model", columns="metric", values="cell").fillna("—")
        wide = wide.reindex(index=table["model"].unique(), columns=table["metric"].unique())
        header = "| model | " + " | ".join(wide.columns) + " |"
        rule = "|---" * (len(wide.columns) + 1) + "|"
        body = ["| " + " | ".join([model, *row.fillna("—")]) + " |" for model, row in wide.iterrows()]
        sections.append("\n".join([f"## {split}", "", header, rule, *body]))
    return "# Model comparison (95% user-bootstrap intervals)\n\n" + "\n\n".join(sections) + "\n"


def _split_replicates(replicates: pd.DataFrame, split: str) -> pd.DataFrame:
    """One split's bootstrap replicates in resample order."""
    rows = replicates[replicates["split"] == split]
    return rows.sort_values("resample").reset_index(drop=True)


def compute_paired_differences(reference: str, confidence: float, **datasets) -> pd.DataFrame:
    """Reference model minus every other model, per split and metric, on the same resamples.

    Args:
        reference: the model namespace every other model is compared against.
        confidence: interval level (``params:evaluation.confidence``).
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
    table = pd.concat(frames, ignore_index=True)
    return table[["model_a", "model_b", "split", *[c for c in table if c not in
                                                    {"model_a", "model_b", "split"}]]]


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
