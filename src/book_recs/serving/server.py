"""``mlflow models serve`` of a registered recommender on this machine, started and always
stopped (the served-model tests and ``benchmarks/serving.py``; no Kedro here).

    with served_model("models:/book_recs/1", "sqlite:///mlflow.db", Path("serve.log")) as served:
        post(served.url, {"dataframe_records": [{"Age": 34, "state": "california",
                                                  "country": "usa"}]})

The server listens on 127.0.0.1 only, on a free port, in its own process group: leaving the
``with`` block ends that group (the ``mlflow`` command and the uvicorn server it starts).
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

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class ServedModel:
    """A running server: ``url`` (``http://127.0.0.1:PORT``), the seconds it took to answer
    ``/ping`` after the command started, and its log file."""

    url: str
    startup_seconds: float
    log: Path


def post(url: str, body: Any, timeout: float = 60.0) -> tuple[int, dict]:
    """POST ``body`` as JSON to ``url``/invocations: the HTTP status and the decoded answer
    (``{"text": ...}`` when the answer is not JSON)."""
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, {"text": text.decode(errors="replace")}


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
    """``mlflow models serve -m <model_uri> --env-manager local -h 127.0.0.1 -p <free port>``
    with this interpreter's environment, until the block ends.

    Args:
        model_uri: e.g. ``models:/book_recs/1``.
        tracking_uri: The MLflow store that registered it (``sqlite:///.../mlflow.db``).
        log: Where the server's output goes.
        workers: uvicorn worker processes.
        startup_timeout: Seconds to wait for ``/ping`` before giving up.
        cwd: The server's working directory.
        env: Extra environment variables.

    Raises:
        RuntimeError: The server stopped, or did not answer in time (its log's tail says why).
    """
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    bin_dir = str(Path(sys.executable).parent)  # the server runs `uvicorn` from PATH
    environment = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
                   "KEDRO_DISABLE_TELEMETRY": "1",
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
        yield ServedModel(url, time.perf_counter() - started, log)
    finally:
        _stop(process)
