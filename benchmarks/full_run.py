"""Run the whole pipeline stage by stage and print wall time and peak memory of each stage.

Each stage (a registered pipeline) runs in a fresh child process, so its peak RSS is its own.
Usage (from the repo root; the full data defaults to ../shared/data/book-crossing):

    python benchmarks/full_run.py                   # full data, warm: reuses cached title embeddings
    python benchmarks/full_run.py --cold            # drops the title-embedding cache first
    python benchmarks/full_run.py --env tuned       # the tuned preset (full data, outputs in data/tuned)
    python benchmarks/full_run.py --env base        # the shipped sample
    python benchmarks/full_run.py --env article --data-dir ../shared/data/book-crossing  # a preset
                                                    # (outputs in its data_dir, data/article)

MLflow tracking is off here (each stage would be its own run); a regression is one command away.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PROJECT_PATH = Path(__file__).resolve().parents[1]
STAGES = ("data_processing", "data_split", "feature_engineering", "finalmlp", "baselines",
          "evaluation", "reporting", "recommendation")
# Environments that read the complete data (conf/<env>/globals.yml).
FULL_DATA_ENVS = ("full", "tuned")


def configured_globals(env: str) -> dict:
    """The environment's globals merged over base: ``data_dir``, ``title_embedding_cache`` ..."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_PATH)
    with KedroSession.create(project_path=PROJECT_PATH, env=env) as session:
        return dict(session.load_context().config_loader["globals"])


def run_stage(stage: str, env: str) -> dict[str, float]:
    """Run one registered pipeline in this process; return its wall time and peak RSS."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_PATH)
    start = time.perf_counter()
    with KedroSession.create(project_path=PROJECT_PATH, env=env) as session:
        session.run(pipeline_name=stage)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb}


def headline_metrics(data_dir: Path) -> dict[str, dict[str, float]]:
    """Test-split AUC, gAUC, avgAUC, nDCG@3 and mean per-user nDCG of every model, from its
    metrics report."""
    metrics = {}
    for path in sorted((data_dir / "08_reporting").glob("*/metrics.json")):
        test = json.loads(path.read_text())["test"]["metrics"]
        metrics[path.parent.name] = {name: round(test[name]["value"], 4)
                                     for name in ("auc", "gauc", "avgauc", "ndcg@3", "ndcg")
                                     if name in test}
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="full")
    parser.add_argument("--cold", action="store_true", help="delete the title-embedding cache first")
    parser.add_argument("--data-dir", help="folder of the full data (default for --env full or "
                        "tuned: ../shared/data/book-crossing)")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.env in FULL_DATA_ENVS and not args.data_dir and "BOOK_CROSSING_DIR" not in os.environ:
        args.data_dir = str(PROJECT_PATH.parent / "shared" / "data" / "book-crossing")

    if args.stage:
        print(json.dumps(run_stage(args.stage, args.env)))
        return

    if args.data_dir:
        os.environ["BOOK_CROSSING_DIR"] = args.data_dir
    os.environ["BOOK_RECS_TRACKING"] = "off"
    configured = configured_globals(args.env)
    title_cache = PROJECT_PATH / configured["title_embedding_cache"]
    if args.cold and title_cache.exists():
        title_cache.unlink()
    rows, total = [], 0.0
    for stage in STAGES:
        child = subprocess.run(
            [sys.executable, __file__, "--env", args.env, "--stage", stage],
            cwd=PROJECT_PATH, capture_output=True, text=True, check=False,
        )
        if child.returncode != 0:
            sys.stderr.write(child.stderr[-4000:])
            raise SystemExit(f"stage {stage} failed")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        total += figures["seconds"]
        rows.append((stage, figures["seconds"], figures["peak_mb"]))
        print(f"{stage:<20} {figures['seconds']:8.1f} s  {figures['peak_mb']:8.0f} MB peak", flush=True)
    print(f"{'total':<20} {total:8.1f} s  {max(r[2] for r in rows):8.0f} MB peak "
          f"({'cold' if args.cold else 'warm'}, env {args.env})")
    print(json.dumps(headline_metrics(PROJECT_PATH / configured["data_dir"]), indent=1))


if __name__ == "__main__":
    main()
