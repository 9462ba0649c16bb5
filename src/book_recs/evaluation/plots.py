"""Report figures (matplotlib, no Kedro); each function returns a Figure for MatplotlibDataset."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402


def plot_metric_distribution(per_user_by_model: dict[str, pd.DataFrame], column: str) -> Figure:
    """Box plot of one per-user metric per model (the article's Figure 7 for ``ndcg``)."""
    figure, axis = plt.subplots(figsize=(8, 4))
    names = list(per_user_by_model)
    axis.boxplot([per_user_by_model[name][column].dropna() for name in names], tick_labels=names)
    axis.tick_params(axis="x", labelrotation=20)
    axis.set_ylabel(f"per-user {column}")
    axis.set_title(f"Per-user {column} on test")
    figure.tight_layout()
    return figure


def plot_stream_contributions(contributions: pd.DataFrame) -> Figure:
    """Bar chart of each stream's share of the fusion output (the article's Figure 8)."""
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.bar(contributions["stream"], contributions["share"])
    axis.set_ylabel("share of summed |w·o|")
    axis.set_title("FinalMLP per-stream contribution (test)")
    figure.tight_layout()
    return figure


def plot_gate_means(gate_means: pd.DataFrame) -> Figure:
    """Horizontal bars of the mean gate value per field, one colour per stream.

    The title's PCA components (``Book-Title_0..k``) are one field to a reader: they are drawn as one
    bar, their mean, so the picture stays a handful of bars.
    """
    gate_means = gate_means.assign(
        field=gate_means["field"].str.replace(r"^Book-Title_\d+$", "Book-Title (PCA components)", regex=True))
    table = gate_means.pivot_table(index="field", columns="stream", values="mean_gate", aggfunc="mean")
    table = table.reindex(gate_means["field"].unique()[::-1])  # input field order, top down
    figure, axis = plt.subplots(figsize=(7, max(3.0, 0.45 * len(table))))
    table.plot.barh(ax=axis)
    axis.axvline(1.0, color="grey", linestyle="--", linewidth=1)  # 1 = the gate leaves a field as is
    axis.set_xlabel("mean gate value (0..2)")
    axis.legend(title="stream", bbox_to_anchor=(1.01, 1), loc="upper left")
    axis.set_title("Feature gating: mean gate per field")
    figure.tight_layout()
    return figure


def plot_calibration(scores_by_model: dict[str, pd.DataFrame], n_bins: int) -> Figure:
    """Reliability curve (observed share of label 1 per predicted-probability bin) per model."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for name, scores in scores_by_model.items():
        observed, predicted = calibration_curve(scores["label"], scores["probability"],
                                                n_bins=n_bins, strategy="quantile")
        axis.plot(predicted, observed, marker="o", label=name)
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("share with label 1")
    axis.legend()
    figure.tight_layout()
    return figure


def plot_candidate_recall(table: pd.DataFrame) -> Figure:
    """Candidate recall against K, one line per candidate generator (``generator``, ``k``,
    ``recall``): the share of the valid readers' held-out liked books among their K candidates."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, rows in table.groupby("generator", sort=False):
        axis.plot(rows["k"], rows["recall"], marker="o", label=name)
    axis.set_xscale("log")
    axis.set_xlabel("K candidates per reader")
    axis.set_ylabel("share of the targets among them")
    axis.set_title("Candidate recall@K (valid readers)")
    axis.legend()
    figure.tight_layout()
    return figure


def plot_library_comparison(model_comparison: pd.DataFrame, metric: str) -> Figure:
    """One metric of every model on test with its 95% interval, one bar each (the
    reader's-library protocol's table as a picture)."""
    rows = model_comparison[(model_comparison["split"] == "test")
                            & (model_comparison["metric"] == metric)]
    figure, axis = plt.subplots(figsize=(6, 4))
    errors = [rows["value"] - rows["ci_low"], rows["ci_high"] - rows["value"]]
    axis.bar(rows["model"], rows["value"], yerr=errors, capsize=4)
    axis.set_ylabel(f"{metric} (test)")
    axis.set_title(f"Reader's-library protocol: {metric}, 95% user-bootstrap intervals")
    axis.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    return figure
