"""The shipped sample run as a user runs it (`kedro run` in a fresh process, in a fresh copy of
the project), shared by every test that needs a whole run: determinism, MLflow records, viz,
serving, the engines' agreement.

Those runs start in the background when the session begins, the ones its tests read only, and go
on while the unit tests run: the sample's titles are encoded once, then the tracked run, a second
run (one seed changed, and the instruction set held to AVX2: everything else must be
byte-identical), `kedro viz build` and the Spark run of the data stages go side by side. The
tests that read a run come last, and wait for it.
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before any test module loads numpy

# isort: split
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

# Before torch loads OpenMP: idle threads sleep instead of spinning. On a busy machine (other jobs
# on the same cores) spinning threads wait for descheduled ones: 2-thread training steps ran 5x
# slower than 1-thread ones (finalmlp README, "On the hardware you have").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROJECT_PATH = Path(__file__).resolve().parents[1]
TITLE_CACHE = Path("data") / "04_feature" / "title_embeddings.parquet"
# The second run changes this model's seed: its outputs differ from the first run's, and
# everything else must not (tests/test_end_to_end.py). A model no other output reads.
RESEEDED = "random"
# The second run also runs as on a CPU whose widest instruction set is AVX2 (MKL's and ATen's
# dispatch capped): under strict numerics (book_recs.numerics) no byte may move.
AVX2_CAPS = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
# Spark for the sample, beside the other runs: two cores; a JVM that compiles with C1 only and
# collects with a serial GC (the sample's queries are short: ~70 of ~215 CPU-s went to the JIT and
# the GC, for the same wall time), two shuffle partitions, and no generated code or adaptive
# re-planning (compiling each short query cost more than it saved: 142 CPU-s instead of 166).
SPARK_FOR_TESTS = {"spark.master": "local[2]", "spark.sql.shuffle.partitions": 2,
                   "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
                   "spark.sql.codegen.wholeStage": False,
                   "spark.sql.codegen.factoryMode": "NO_CODEGEN", "spark.sql.adaptive.enabled": False}


def kedro(project: Path, *args: str, tracking: bool = True,
          started: list[subprocess.Popen] | None = None,
          environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m kedro <args>`` in ``project`` under strict numerics (and ``environment``);
    fails with the output's tail. A process is appended to ``started`` (when given) so that it
    can be stopped from elsewhere."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "BOOK_RECS_NUMERICS": "strict",
           "BOOK_RECS_TRACKING": "on" if tracking else "off", **(environment or {})}
    env.pop("BOOK_CROSSING_DIR", None)
    with subprocess.Popen([sys.executable, "-m", "kedro", *args], cwd=project, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        if started is not None:
            started.append(process)
        try:
            stdout, stderr = process.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


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
        (target / TITLE_CACHE).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(title_cache_from / TITLE_CACHE, target / TITLE_CACHE)
    return target


class SampleRuns:
    """Background runs on the sample, started by name, each run once, in a thread of its own.

    ``sample_run`` is the tracked run the tests read, ``second_run`` the same run in another copy
    (its own MLflow store) with one parameter changed, the random baseline's seed
    (``RESEEDED``), on kernels capped at AVX2 (``AVX2_CAPS``), ``spark_run`` the data stages on PySpark ``local[2]`` (None without Java),
    ``viz_build`` a project after `kedro viz build`. All runs reuse the sample's titles, encoded
    once by the project's own `kedro run` of the nodes up to the title cache (``titles``); a
    title's vector does not depend on the run that encodes it
    (tests/features/test_title_embeddings.py), so that is the cold run's cache, byte for byte.
    """

    needs = {"titles": (), "sample_run": ("titles",), "second_run": ("titles",),
             "spark_run": ("titles",), "viz_build": ("titles",)}

    def __init__(self, wanted: set[str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="book_recs_sample_runs_"))
        self.started: list[subprocess.Popen] = []
        self.futures: dict[str, Future] = {}
        # One thread per run: a run waiting for another never starves the pool.
        self.pool = ThreadPoolExecutor(max_workers=len(self.needs))
        for name in wanted:
            self.start(name)

    def start(self, name: str) -> None:
        """Starts the run ``name`` (and the runs it needs) unless started already."""
        if name not in self.futures:
            for need in self.needs[name]:
                self.start(need)
            self.futures[name] = self.pool.submit(getattr(self, f"_{name}"))

    def result(self, name: str):
        """The run's project folder, once the run is done (it fails as the run failed)."""
        self.start(name)
        return self.futures[name].result()

    def _kedro(self, project: Path, *args: str, tracking: bool = True,
               environment: dict[str, str] | None = None) -> Path:
        kedro(project, *args, tracking=tracking, started=self.started, environment=environment)
        return project

    def _titles(self) -> Path:
        return self._kedro(copy_project(self.root / "titles"), "run", "--pipelines",
                           "data_processing,feature_engineering", "--to-outputs",
                           "title_embeddings", tracking=False)

    def _sample_run(self) -> Path:
        return self._kedro(copy_project(self.root / "sample_run", self.result("titles")), "run")

    def _second_run(self) -> Path:
        return self._kedro(copy_project(self.root / "second_run", self.result("titles")), "run",
                           "--params", f"{RESEEDED}.model.seed=7", environment=AVX2_CAPS)

    def _viz_build(self) -> Path:
        return self._kedro(self.result("titles"), "viz", "build", tracking=False)

    def _spark_run(self) -> Path | None:
        if shutil.which("java") is None:
            return None
        project = copy_project(self.root / "spark_run", self.result("titles"))
        spark_conf = project / "conf" / "spark" / "spark.yml"
        spark_conf.write_text(yaml.safe_dump({**yaml.safe_load(spark_conf.read_text()),
                                              **SPARK_FOR_TESTS}))
        return self._kedro(project, "run", "--env", "spark", "--pipelines",
                           "data_processing,data_split,feature_engineering", tracking=False)

    def stop(self) -> None:
        """Stops runs still going (a session ended early) and the pool; removes the copies."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)


RUNS = pytest.StashKey[SampleRuns]()


def pytest_sessionstart(session) -> None:
    """A run of the whole suite (no paths given: CI, the README's command) starts encoding the
    sample's titles before collection, which imports the libraries for ~15 s."""
    config = session.config
    if config.args_source is pytest.Config.ArgsSource.TESTPATHS and not config.option.collectonly:
        config.stash[RUNS] = SampleRuns({"titles"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that read a background run go last, in the order the runs end (viz first, Spark
    last): every other test runs while the runs go, none waits behind them."""
    order = ("viz_build", "sample_run", "second_run", "spark_run")

    def last_run_read(item: pytest.Item) -> int:
        return max((order.index(name) for name in getattr(item, "fixturenames", ())
                    if name in order), default=-1)

    items.sort(key=last_run_read)


@pytest.fixture(scope="session", autouse=True)
def sample_runs(request):
    """Starts the background runs that the collected tests read, first thing; else nothing."""
    runs = request.config.stash.get(RUNS, None)
    wanted = set().union(*(getattr(item, "fixturenames", ()) for item in request.session.items))
    wanted &= set(SampleRuns.needs) - {"titles"}
    if not wanted:
        if runs is not None:
            runs.stop()
        return None
    if runs is None:
        runs = request.config.stash[RUNS] = SampleRuns(set())
    for name in wanted:
        runs.start(name)
    return runs


def pytest_sessionfinish(session) -> None:
    """Stops the runs, also when the session ended before its tests (a collection error)."""
    runs = session.config.stash.get(RUNS, None)
    if runs is not None:
        runs.stop()


def run_fixture(name: str, doc: str):
    """A session fixture that waits for the background run ``name`` and returns its project."""

    @pytest.fixture(scope="session", name=name)
    def fixture(sample_runs) -> Path:
        return sample_runs.result(name)

    fixture.__doc__ = doc
    return fixture


sample_run = run_fixture(
    "sample_run", "A project copy after one tracked `kedro run` on the shipped sample (DuckDB).")
second_run = run_fixture(
    "second_run", f"Another copy after `kedro run --params {RESEEDED}.model.seed=7` on kernels "
    "capped at AVX2, in its own MLflow store.")
viz_build = run_fixture("viz_build", "A project of the sample after `kedro viz build`.")


@pytest.fixture(scope="session")
def spark_run(sample_runs) -> Path:
    """A copy after `kedro run --env spark` of the data stages (Spark ``local[2]``)."""
    project = sample_runs.result("spark_run")
    if project is None:
        pytest.skip("PySpark needs a Java runtime (java not on PATH)")
    return project
