"""Report figures: each draws what its data says, one artist per model, stream or field."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve

from book_recs.evaluation.plots import (
    plot_calibration,
    plot_gate_means,
    plot_metric_distribution,
    plot_stream_contributions,
)
from tests.evaluation.frames import make_scores


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_metric_distribution_draws_one_box_per_model_over_defined_users_only():
    per_user = {"finalmlp": pd.DataFrame({"ndcg": [0.9, 0.8, np.nan, 0.7]}),
                "random": pd.DataFrame({"ndcg": [0.5, 0.6, 0.4, 0.55]})}
    axis = plot_metric_distribution(per_user, "ndcg").axes[0]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["finalmlp", "random"]
    median_colour = matplotlib.rcParams["boxplot.medianprops.color"]
    medians = [line.get_ydata()[0] for line in axis.lines if line.get_color() == median_colour]
    assert medians == pytest.approx([0.8, 0.525])  # the NaN user is left out, not counted as 0
    assert axis.get_ylabel() == "per-user ndcg"


def test_stream_contributions_draw_each_stream_share():
    contributions = pd.DataFrame({"stream": ["user", "item"], "contribution": [1.0, 3.0],
                                  "share": [0.25, 0.75]})
    axis = plot_stream_contributions(contributions).axes[0]
    assert [bar.get_height() for bar in axis.patches] == [0.25, 0.75]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["user", "item"]


def test_gate_means_draw_the_title_components_as_one_field_at_their_mean():
    gate_means = pd.DataFrame({
        "stream": ["user", "user", "user", "item", "item", "item"],
        "field": ["Age", "Book-Title_0", "Book-Title_1", "Age", "Book-Title_0", "Book-Title_1"],
        "mean_gate": [0.8, 1.0, 1.4, 1.1, 0.6, 0.8]})
    axis = plot_gate_means(gate_means).axes[0]
    fields = [label.get_text() for label in axis.get_yticklabels()]  # bottom up
    assert fields == ["Book-Title (PCA components)", "Age"]  # the first input field on top
    bars = {(fields[round(bar.get_y() + bar.get_height() / 2)], round(bar.get_width(), 6))
            for bar in axis.patches}
    # The title field is the mean of its components per stream: user 1.2, item 0.7.
    assert bars == {("Book-Title (PCA components)", 1.2), ("Book-Title (PCA components)", 0.7),
                    ("Age", 0.8), ("Age", 1.1)}
    assert sorted(text.get_text() for text in axis.get_legend().get_texts()) == ["item", "user"]


def test_calibration_draws_the_diagonal_and_one_curve_per_model():
    scores = {"finalmlp": make_scores(60, seed=1), "popularity": make_scores(60, seed=2)}
    axis = plot_calibration(scores, n_bins=4).axes[0]
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert list(lines) == ["perfect", "finalmlp", "popularity"]
    observed, predicted = calibration_curve(scores["finalmlp"]["label"],
                                            scores["finalmlp"]["probability"], n_bins=4,
                                            strategy="quantile")
    np.testing.assert_allclose(lines["finalmlp"].get_xdata(), predicted)
    np.testing.assert_allclose(lines["finalmlp"].get_ydata(), observed)
