"""notebooks/eda.ipynb runs against the shipped sample (its code cells, as plain Python)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROJECT_PATH = Path(__file__).resolve().parents[3]
NOTEBOOK = PROJECT_PATH / "notebooks" / "eda.ipynb"


def test_eda_notebook_runs_and_draws_three_histograms(monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    if not all((PROJECT_PATH / f"data/01_raw/{n}.csv.gz").exists() for n in ("Books", "Ratings", "Users")):
        pytest.skip("the shipped sample data/01_raw/*.csv.gz is absent")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notebook = json.loads(NOTEBOOK.read_text())
    assert all(cell.get("outputs", []) == [] for cell in notebook["cells"])  # no stored outputs
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"]
                     if cell["cell_type"] == "code")
    monkeypatch.chdir(NOTEBOOK.parent)
    plt.close("all")
    namespace: dict = {}
    exec(compile(code, str(NOTEBOOK), "exec"), namespace)  # noqa: S102
    try:
        assert len(namespace["merged"]) > 1000
        titles = [plt.figure(n).axes[0].get_title() for n in plt.get_fignums()]
        assert titles == ["Age distribution", "Year of publication distribution",
                          "Book rating distribution"]
    finally:
        namespace["session"].close()
        plt.close("all")
