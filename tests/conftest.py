"""The shipped sample run once, as a user runs it (`kedro run` in a fresh process, in a fresh copy
of the project), shared by every test that needs a whole run: determinism, MLflow records, viz,
the engines' agreement."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Before torch loads OpenMP: idle threads sleep instead of spinning. On a busy machine (other jobs
# on the same cores) spinning threads wait for descheduled ones: 2-thread training steps ran 5x
# slower than 1-thread ones (finalmlp README, "On the hardware you have").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROJECT_PATH = Path(__file__).resolve().parents[1]


def kedro(project: Path, *args: str, tracking: bool = True) -> subprocess.CompletedProcess:
    """``python -m kedro <args>`` in ``project``; fails the test with the output's tail."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1",
           "BOOK_RECS_TRACKING": "on" if tracking else "off"}
    env.pop("BOOK_CROSSING_DIR", None)
    result = subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def copy_project(target: Path, title_cache_from: Path | None = None) -> Path:
    """A fresh project folder: the code, the configuration and the raw sample, no outputs (but
    the title-embedding cache of ``title_cache_from``, when given)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_PATH / "pyproject.toml", target)
    shutil.copytree(PROJECT_PATH / "src", target / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(PROJECT_PATH / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir()
    shutil.copytree(PROJECT_PATH / "data" / "01_raw", target / "data" / "01_raw",
                    ignore=shutil.ignore_patterns("full"))
    if title_cache_from is not None:
        cache = Path("data") / "04_feature" / "title_embeddings.parquet"
        (target / cache).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(title_cache_from / cache, target / cache)
    return target


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """A project copy after one tracked `kedro run` on the shipped sample (DuckDB engine)."""
    project = copy_project(tmp_path_factory.mktemp("sample_run"))
    kedro(project, "run")
    return project
