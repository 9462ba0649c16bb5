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
import sys
from pathlib import Path

from book_recs.model_registry import MODEL_NAMES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stages import PROJECT_PATH, STAGES, configured_globals, measure_stages  # noqa: E402

# Environments that read the complete data (conf/<env>/globals.yml).
FULL_DATA_ENVS = ("full", "tuned")


def headline_metrics(data_dir: Path) -> dict[str, dict[str, float]]:
    """Test-split AUC, gAUC, avgAUC, nDCG@3 and mean per-user nDCG of every model, from its
    metrics report."""
    metrics = {}
    for model in MODEL_NAMES:  # not the recommender's report, which has other metrics
        path = data_dir / "08_reporting" / model / "metrics.json"
        if not path.exists():
            continue
        test = json.loads(path.read_text())["test"]["metrics"]
        metrics[model] = {name: round(test[name]["value"], 4)
                          for name in ("auc", "gauc", "avgauc", "ndcg@3", "ndcg") if name in test}
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="full")
    parser.add_argument("--cold", action="store_true", help="delete the title-embedding cache first")
    parser.add_argument("--data-dir", help="folder of the full data (default for --env full or "
                        "tuned: ../shared/data/book-crossing)")
    args = parser.parse_args()
    if args.env in FULL_DATA_ENVS and not args.data_dir and "BOOK_CROSSING_DIR" not in os.environ:
        args.data_dir = str(PROJECT_PATH.parent / "shared" / "data" / "book-crossing")

    if args.data_dir:
        os.environ["BOOK_CROSSING_DIR"] = args.data_dir
    os.environ["BOOK_RECS_TRACKING"] = "off"
    configured = configured_globals(args.env)
    title_cache = PROJECT_PATH / configured["title_embedding_cache"]
    if args.cold and title_cache.exists():
        title_cache.unlink()
    rows = measure_stages(STAGES, args.env)
    print(f"{'total':<20} {sum(r['seconds'] for r in rows):8.1f} s  "
          f"{max(r['peak_mb'] for r in rows):8.0f} MB peak "
          f"({'cold' if args.cold else 'warm'}, env {args.env})")
    print(json.dumps(headline_metrics(PROJECT_PATH / configured["data_dir"]), indent=1))


if __name__ == "__main__":
    main()
