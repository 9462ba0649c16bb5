"""Project hooks: what book_recs adds to the MLflow run that kedro-mlflow opens.

kedro-mlflow starts and ends one MLflow run per ``kedro run`` and logs the parameters the nodes
read. This hook adds what makes two runs comparable: tags (git commit, Kedro environment, a hash of
the raw data, the numerics torch computed with), every model's evaluation metrics, the comparison table, the plots and the trained
FinalMLP model. It only acts while an MLflow run is active, so with tracking off
(``BOOK_RECS_TRACKING=off``) or in unit tests that run pipelines without a session, it does nothing.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node
from matplotlib.figure import Figure

from book_recs.model_registry import REFERENCE_MODEL
from book_recs.numerics import current_numerics, describe

logger = logging.getLogger(__name__)

RAW_DATASETS = ("books_raw", "ratings_raw", "users_raw")
MODEL_DATASETS = (f"{REFERENCE_MODEL}.model",)


def flatten_metrics(metrics: dict[str, Any], prefix: str = "", sep: str = ".") -> dict[str, float]:
    """Flatten nested metric dicts to ``{"a.b.c": value}``, keeping only finite numbers."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        # MLflow metric names take letters, digits and _-. /: "ndcg@3" becomes "ndcg_at_3".
        name = re.sub(r"[^\w\-. /]", "_", str(key).replace("@", "_at_"))
        name = f"{prefix}{sep}{name}" if prefix else name
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, name, sep))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if value == value and abs(value) != float("inf"):
                flat[name] = float(value)
    return flat


def file_sha256(paths: list[Path]) -> str:
    """One sha256 over the bytes of several files, in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def git_commit(project_path: Path) -> str:
    """The checked-out commit, with ``-dirty`` when the work tree has changes; ``unknown`` outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_path, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_path, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


class TrackingHooks:
    """Logs tags, metrics, reports, plots and the model into the active MLflow run."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: DataCatalog) -> None:
        numerics = describe(current_numerics())
        logger.info("numerics: %s", numerics)
        if mlflow.active_run() is None:
            return
        project_path = Path(run_params.get("project_path") or Path.cwd())
        raw_paths = [
            Path(catalog[name]._describe()["filepath"]) for name in RAW_DATASETS if name in catalog
        ]
        mlflow.set_tags(
            {
                "git_commit": git_commit(project_path),
                "kedro_env": run_params.get("env") or "local",
                "raw_data_sha256": file_sha256([p for p in raw_paths if p.exists()]),
                "raw_data_files": ", ".join(str(p) for p in raw_paths),
                "numerics": numerics,
            }
        )

    @hook_impl
    def after_node_run(self, node: Node, outputs: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return
        for name, data in outputs.items():
            self._log_output(name, data)

    def _log_output(self, name: str, data: Any) -> None:
        if name.endswith(".metrics") and isinstance(data, dict):
            model = name.removesuffix(".metrics")
            mlflow.log_metrics(flatten_metrics(data, prefix=model))
        elif isinstance(data, Figure):
            mlflow.log_figure(data, f"plots/{name}.png")
        elif isinstance(data, pd.DataFrame) and name.rsplit(".", 1)[-1] in (
                "model_comparison", "paired_differences"):  # each protocol's (``library.``)
            mlflow.log_text(data.to_csv(index=False), f"reports/{name}.csv")
        elif name.endswith("model_comparison_markdown") and isinstance(data, str):
            mlflow.log_text(data, f"reports/{name.removesuffix('_markdown')}.md")
        elif name in MODEL_DATASETS:
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / f"{name}.pkl"
                target.write_bytes(pickle.dumps(data))
                mlflow.log_artifact(str(target), artifact_path="models")


class SparkHooks:
    """Starts the Spark session of an environment whose engine is ``pyspark`` (Kedro's PySpark
    recipe): its configuration is ``conf/<env>/spark.yml`` (master, memory, SQL settings), so a
    cluster is one file away. Ibis's PySpark backend then picks this session up."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        if context.config_loader["globals"].get("engine") != "pyspark":
            return
        from pyspark import SparkConf
        from pyspark.sql import SparkSession

        settings = {key: str(value) for key, value in context.config_loader["spark"].items()}
        session = (SparkSession.builder.appName(context.project_path.name)
                   .config(conf=SparkConf().setAll(settings.items())).getOrCreate())
        session.sparkContext.setLogLevel("WARN")
