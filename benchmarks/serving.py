"""Latency and throughput of the served recommender: `mlflow models serve` on a free 127.0.0.1
port, a bounded number of single-reader top-N requests from 1 and from 4 concurrent clients,
p50 / p99 latency and requests/s; then the server is stopped.

    python benchmarks/serving.py                       # the latest version a `tuned` run registered
    python benchmarks/serving.py --env local           # ... a run of the shipped sample
    python benchmarks/serving.py --model-uri models:/book_recs/3 --tracking-uri sqlite:///x.db

The default store is the project's own (``sqlite:///mlflow.db``, conf/base/mlflow.yml); by
default the model is the newest registered version whose run has the Kedro environment ``--env``.
``--breakdown`` also times the same requests in this process: the recommender alone, then the
MLflow model's ``predict`` (schema check + kedro-mlflow's runner + the recommender), so the
server's own share (HTTP, JSON) is the rest.

Readers cycle through a fixed list of profiles (known and unknown places, missing ages), so
every run sends the same requests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from book_recs.serving.mlflow_model import MODEL_NAME, model_uri
from book_recs.serving.server import post, served_model

PROJECT_PATH = Path(__file__).resolve().parents[1]
PROFILES = [
    {"Age": 34, "state": "california", "country": "usa"},
    {"Age": 22, "state": "ontario", "country": "canada"},
    {"Age": None, "state": "england", "country": "united kingdom"},
    {"Age": 61, "state": "bayern", "country": "germany"},
    {"Age": 45, "state": "texas", "country": "usa"},
    {"Age": 29, "state": "atlantis", "country": "oz"},  # unknown places: a note
    {"Age": None, "state": None, "country": None},
    {"Age": 17, "state": "new south wales", "country": "australia"},
]


def requests(count: int, top_n: int) -> list[dict]:
    """``count`` single-reader request bodies."""
    return [{"dataframe_records": [{**PROFILES[i % len(PROFILES)], "top_n": top_n}]}
            for i in range(count)]


def newest_version(tracking_uri: str, env: str) -> str:
    """The newest registered version whose training run ran in Kedro environment ``env``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    versions = [v for v in client.search_model_versions(f"name='{MODEL_NAME}'")
                if client.get_run(v.run_id).data.tags.get("kedro_env") == env]
    if not versions:
        sys.exit(f"no version of {MODEL_NAME} was registered by a `kedro run --env {env}` in "
                 f"{tracking_uri}")
    return str(max(int(v.version) for v in versions))


def summary(latencies: list[float], seconds: float) -> str:
    ms = np.asarray(latencies) * 1e3
    return (f"p50 {np.percentile(ms, 50):7.1f} ms   p99 {np.percentile(ms, 99):7.1f} ms   "
            f"mean {ms.mean():7.1f} ms   {len(ms) / seconds:7.1f} requests/s")


def load_clients(url: str, bodies: list[dict], clients: int) -> tuple[list[float], float]:
    """Send ``bodies`` from ``clients`` threads, each its share one after the other: every
    request's latency and the wall time of all."""
    def client(share: list[dict]) -> list[float]:
        latencies = []
        for body in share:
            start = time.perf_counter()
            status, answer = post(url, body)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {answer}")
        return latencies

    shares = [bodies[i::clients] for i in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [t for share in pool.map(client, shares) for t in share]
    return latencies, time.perf_counter() - start


def timed(run: Callable[[pd.DataFrame], object], bodies: list[dict]) -> list[float]:
    latencies = []
    for body in bodies:
        # As the server reads the JSON (the signature's types).
        frame = pd.DataFrame(body["dataframe_records"]).astype({"Age": "float64",
                                                                "top_n": "float64"})
        start = time.perf_counter()
        run(frame)
        latencies.append(time.perf_counter() - start)
    return latencies


def breakdown(uri: str, tracking_uri: str, bodies: list[dict], warmup: list[dict]) -> None:
    """The same requests in this process: the recommender alone, then the MLflow model."""
    import mlflow

    from book_recs.serving.cli import quietly

    mlflow.set_tracking_uri(tracking_uri)
    with quietly():
        model = mlflow.pyfunc.load_model(uri)
        recommender = model.unwrap_python_model().loaded_catalog.load("recommender")
        for name, run in (("Recommender.recommend", recommender.recommend),
                          ("MLflow model predict", model.predict)):
            timed(run, warmup)
            latencies = timed(run, bodies)
            print(f"  in process, {name:<22} {summary(latencies, sum(latencies))}")
    print(f"  ({recommender.candidate_count} candidates, {type(recommender.model).__name__})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=f"sqlite:///{PROJECT_PATH / 'mlflow.db'}")
    parser.add_argument("--env", default="tuned",
                        help="pick the newest version a run of this Kedro environment registered")
    parser.add_argument("--model-uri", help="serve this model instead (e.g. models:/book_recs/3)")
    parser.add_argument("--requests", type=int, default=500, help="per client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--top-n", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.requests <= 10_000:
        parser.error("--requests must be from 1 to 10000")

    uri = args.model_uri or model_uri(newest_version(args.tracking_uri, args.env))
    bodies, warmup = requests(args.requests, args.top_n), requests(args.warmup, args.top_n)
    print(f"{uri} from {args.tracking_uri}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start; {args.requests} single-reader top-"
          f"{args.top_n} requests per client count, {args.workers} worker(s)")
    with tempfile.TemporaryDirectory() as tmp, served_model(
            uri, args.tracking_uri, Path(tmp) / "serve.log", workers=args.workers) as served:
        print(f"  server answered /ping {served.startup_seconds:.1f} s after the command started")
        load_clients(served.url, warmup, 1)
        for clients in args.clients:
            latencies, seconds = load_clients(served.url, bodies, clients)
            print(f"  {clients} client(s): {summary(latencies, seconds)}")
    if args.breakdown:
        breakdown(uri, args.tracking_uri, bodies, warmup)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (above {os.cpu_count()}: the cores "
          "were shared with other work)")


if __name__ == "__main__":
    main()
