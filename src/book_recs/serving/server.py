"""``mlflow models serve`` of a registered recommender on this machine, started and always
stopped (the served-model tests and ``benchmarks/serving.py``; no Kedro here).

    with served_model("models:/book_recs/1", "sqlite:///mlflow.db", Path("serve.log")) as served:
        post(served.url, {"dataframe_records": [{"Age": 34, "state": "california",
                                                  "country": "usa"}]})

The server listens on 127.0.0.1 only, on a free port, in its own process group: leaving the
``with`` block ends that group (the ``mlflow`` command and the uvicorn server it starts). With
several workers, uvicorn's parent process starts one child process per worker and starts a new
one when a worker dies; ``worker_pids`` finds them, ``tree_memory`` and ``tree_cpu_seconds`` read
the whole tree from /proc.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from book_recs.numerics import THREADS_VARIABLE

LOOPBACK = "127.0.0.1"
CONCURRENCY = 8
"""uvicorn's ``--limit-concurrency`` per worker (``UVICORN_LIMIT_CONCURRENCY``, which uvicorn reads
from the environment that ``mlflow models serve`` passes on): a worker holding this many
connections answers the next request 503 at once. A worker computes every request it started,
also after MLflow's timeout has answered 504 (docs/serving.md, "Limits and timeout"): this bound
and the request limits keep its in-flight work, 7 of the largest requests at the most (4.4-6.2 s
each with the `tuned` model on 2 cores), well inside that timeout."""
WORKER_THREADS = 1
"""torch's threads in each worker (``BOOK_RECS_THREADS``): the workers are the parallelism, and
a second thread per worker only spun (5 ms more server CPU per cold-start request, 3 ms per
library one, with 2 workers on 2 cores). The answers are the same: a served model scores on one
thread whatever the count (``book_recs.devices``)."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class ServedModel:
    """A running server: ``url`` (``http://127.0.0.1:PORT``), the seconds it took to answer
    ``/ping`` after the command started, its log file and the process id of the ``mlflow``
    command (the root of the server's process tree)."""

    url: str
    startup_seconds: float
    log: Path
    pid: int


def post_bytes(url: str, data: bytes, content_type: str = "application/json",
               timeout: float = 60.0) -> tuple[int, bytes]:
    """POST ``data`` to ``url``/invocations: the HTTP status and the answer's bytes."""
    request = urllib.request.Request(f"{url}/invocations", data=data,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post(url: str, body: Any, timeout: float = 60.0) -> tuple[int, dict]:
    """POST ``body`` as JSON to ``url``/invocations: the HTTP status and the decoded answer
    (``{"text": ...}`` when the answer is not JSON)."""
    status, text = post_bytes(url, json.dumps(body).encode(), timeout=timeout)
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, {"text": text.decode(errors="replace")}


def _proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state, parent id, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every process under it that is alive now (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_proc_stat(int(entry.name))[1]), []).append(int(entry.name))
            except OSError:  # ended meanwhile
                continue
    tree, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        tree.append(pid)
        frontier.extend(children.get(pid, []))
    return tree


def worker_pids(root: int) -> list[int]:
    """The uvicorn worker processes of a server started with several workers: the processes
    that uvicorn's parent started through multiprocessing (none with one worker)."""
    workers = []
    for pid in process_tree(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.spawn" in command and b"spawn_main" in command:
            workers.append(pid)
    return workers


def tree_memory(root: int) -> int:
    """Resident memory of ``root``'s process tree, in bytes: the sum of each process's RSS."""
    total = 0
    for pid in process_tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) * 1024 for line in status.splitlines()
                     if line.startswith("VmRSS:"))
    return total


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) of the processes of ``root``'s tree alive now."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = _proc_stat(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def _answers_ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """End the server's process group: politely, then by force."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def served_model(model_uri: str, tracking_uri: str, log: Path, workers: int = 1,
                 startup_timeout: float = 300.0, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> Iterator[ServedModel]:
    """``mlflow models serve -m <model_uri> --env-manager local -h 127.0.0.1 -p <free port>
    -w <workers>`` with this interpreter's environment, ``UVICORN_LIMIT_CONCURRENCY`` at
    ``CONCURRENCY`` and ``BOOK_RECS_THREADS`` at ``WORKER_THREADS``, until the block ends.

    Args:
        model_uri: e.g. ``models:/book_recs/1``.
        tracking_uri: The MLflow store that registered it (``sqlite:///.../mlflow.db``).
        log: Where the server's output goes.
        workers: uvicorn worker processes.
        startup_timeout: Seconds to wait for ``/ping`` before giving up.
        cwd: The server's working directory.
        env: Extra environment variables (they may replace the two above).

    Raises:
        RuntimeError: The server stopped, or did not answer in time (its log's tail says why).
    """
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    bin_dir = str(Path(sys.executable).parent)  # the server runs `uvicorn` from PATH
    environment = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
                   "KEDRO_DISABLE_TELEMETRY": "1", "UVICORN_LIMIT_CONCURRENCY": str(CONCURRENCY),
                   THREADS_VARIABLE: str(WORKER_THREADS),
                   "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **(env or {})}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
               "--env-manager", "local", "-h", LOOPBACK, "-p", str(port), "-w", str(workers)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=cwd,
                                   env=environment, start_new_session=True)
    try:
        while not _answers_ping(url):
            waited = time.perf_counter() - started
            if process.poll() is not None or waited > startup_timeout:
                tail = log.read_text(errors="replace")[-3000:]
                state = (f"exited with {process.returncode}" if process.poll() is not None
                         else f"did not answer /ping within {startup_timeout:.0f} s")
                raise RuntimeError(f"`{' '.join(command)}` {state}:\n{tail}")
            time.sleep(0.2)
        yield ServedModel(url, time.perf_counter() - started, log, process.pid)
    finally:
        _stop(process)
