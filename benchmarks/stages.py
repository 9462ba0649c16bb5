"""Run registered pipelines one per child process and measure each: wall time and peak RSS.

Shared by ``full_run.py`` and ``scaling.py``. A child process per stage makes each peak RSS the
stage's own (the embedded DuckDB engine included; a Spark JVM is a process of its own and is not
counted). Child mode, used by ``measure_stages``:

    python benchmarks/stages.py --stage data_processing --env tuned [--conf-source DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

PROJECT_PATH = Path(__file__).resolve().parents[1]
STAGES = ("data_processing", "data_split", "feature_engineering", "finalmlp", "baselines",
          "evaluation", "reporting", "recommendation")
DATA_STAGES = STAGES[:3]


def configured_globals(env: str, conf_source: str | None = None) -> dict:
    """The environment's globals merged over base: ``data_dir``, ``title_embedding_cache`` ..."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_PATH)
    with KedroSession.create(project_path=PROJECT_PATH, env=env,
                             conf_source=conf_source) as session:
        return dict(session.load_context().config_loader["globals"])


def run_stage(stage: str, env: str, conf_source: str | None = None) -> dict[str, float]:
    """Run one registered pipeline in this process; return its wall time and peak RSS."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_PATH)
    start = time.perf_counter()
    with KedroSession.create(project_path=PROJECT_PATH, env=env,
                             conf_source=conf_source) as session:
        session.run(pipeline_name=stage)
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak RSS since it started its program (Linux: ``VmHWM``).

    Not ``ru_maxrss``: Linux keeps that across ``exec``, so a stage's child would report at least
    the RSS of the benchmark process that launched it (~3 GB after making the 16x data).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_stages(stages: tuple[str, ...], env: str, conf_source: str | None = None,
                   label: str = "") -> list[dict]:
    """Each stage in a fresh child process, in order; print and return its figures. A failing
    stage stops the run with the tail of its error output."""
    rows = []
    for stage in stages:
        command = [sys.executable, __file__, "--stage", stage, "--env", env]
        if conf_source:
            command += ["--conf-source", conf_source]
        child = subprocess.run(command, cwd=PROJECT_PATH, capture_output=True, text=True,
                               check=False)
        if child.returncode != 0:
            sys.stderr.write(child.stderr[-4000:])
            raise SystemExit(f"stage {stage} failed{' (' + label + ')' if label else ''}")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        rows.append({"stage": stage, **figures})
        print(f"{label}{stage:<20} {figures['seconds']:8.1f} s  {figures['peak_mb']:8.0f} MB peak",
              flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one stage (child mode of measure_stages).")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--conf-source")
    args = parser.parse_args()
    print(json.dumps(run_stage(args.stage, args.env, args.conf_source)))


if __name__ == "__main__":
    main()
