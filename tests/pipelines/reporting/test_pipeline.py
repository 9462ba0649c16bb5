from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from book_recs.pipelines.evaluation import create_pipeline as create_evaluation
from book_recs.pipelines.reporting import create_pipeline as create_reporting
from tests.evaluation.frames import make_scores

CONF = Path(__file__).resolve().parents[3] / "conf" / "base"
NAMESPACES = ("finalmlp", "popularity", "random")
class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so intermediate outputs stay inspectable."""

    def _release(self) -> None:
        pass


FIGURES = ("per_user_ndcg_plot", "stream_contributions_plot", "gate_means_plot", "calibration_plot")


def test_evaluation_and_reporting_run_end_to_end():
    catalog = DataCatalog()
    catalog["params:evaluation"] = {"ks": [3, 10], "bootstrap_resamples": 40,
                                    "bootstrap_seed": 1, "confidence": 0.95}
    catalog["params:evaluation.confidence"] = 0.95
    catalog["params:evaluation.borderline_margins"] = {"default": 0.002}
    catalog["params:reporting"] = {"top_n": 3, "calibration_bins": 4}
    test_rows = make_scores(40, seed=11)
    for seed, ns in enumerate(NAMESPACES):
        noise = pd.Series(range(len(test_rows))).mul(seed * 7919 % 13).mod(11)
        scores_test = test_rows.assign(score=test_rows["score"] + noise * seed)
        keep = slice(None) if ns != "random" else ["User-ID", "ISBN", "Book-Rating", "label", "score"]
        catalog[f"{ns}.scores_valid"] = make_scores(20, seed=1, with_probability=ns != "random")
        catalog[f"{ns}.scores_test"] = scores_test.loc[:, keep]
    catalog["test_ratings@pandas"] = test_rows.assign(**{"Book-Title": "t", "Book-Author": "a"})
    catalog["finalmlp.stream_contributions"] = pd.DataFrame(
        {"stream": ["user", "item"], "contribution": [1.0, 3.0], "share": [0.25, 0.75]})
    catalog["finalmlp.gate_means"] = pd.DataFrame(
        {"stream": ["user", "item", "user"], "field": ["Age", "Age", "country"],
         "mean_gate": [0.9, 1.1, 1.0]})
    pipeline = create_evaluation(NAMESPACES) + create_reporting(NAMESPACES)
    for name in pipeline.outputs() | {"model_comparison", "paired_differences"}:
        catalog[name] = KeptDataset()
    SequentialRunner().run(pipeline, catalog)

    comparison = catalog.load("model_comparison")
    assert set(comparison["model"]) == set(NAMESPACES)
    assert len(comparison.query("model == 'random' and metric == 'logloss'")) == 0
    pairs = catalog.load("paired_differences")
    assert set(pairs["model_b"]) == {"popularity", "random"} and set(pairs["model_a"]) == {"finalmlp"}
    assert (pairs["ci_low"] <= pairs["ci_high"]).all()
    assert set(pairs["verdict"]) <= {"win", "loss", "tie"} and pairs["borderline"].dtype == bool
    assert {"gauc", "avgauc"} <= set(pairs["metric"]) and {"gauc", "avgauc"} <= set(comparison["metric"])
    markdown = catalog.load("model_comparison_markdown")
    assert "## test" in markdown and "| model | auc | logloss | gauc | avgauc | ndcg |" in markdown
    assert all(isinstance(catalog.load(name), Figure) for name in FIGURES)
    assert catalog.load("recommendations_test")["rank"].max() == 3
