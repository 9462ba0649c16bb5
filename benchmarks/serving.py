"""Latency, throughput, limits and faults of the served recommender: `mlflow models serve` on a
free 127.0.0.1 port (2 uvicorn workers by default), then stopped. Every figure is printed beside
the load average, and the run starts and ends with a speed probe (``host_speed``): the machine's
cores may be shared with other work, and its host with other machines.

    python benchmarks/serving.py                       # the latest version a `tuned` run registered
    python benchmarks/serving.py --env local           # ... a run of the shipped sample
    python benchmarks/serving.py --env tuned --soak 180    # and the soak and fault run
    python benchmarks/serving.py --env tuned --clients 1 4 4 4   # the 4-client load three times
    python benchmarks/serving.py --model-uri models:/book_recs/3 --tracking-uri sqlite:///x.db

The default store is the project's own (``sqlite:///mlflow.db``, conf/base/mlflow.yml); by
default the model is the newest registered version whose run has the Kedro environment ``--env``.

1. **Load**: a bounded number of single-reader top-N requests from 1, 4 and 16 concurrent
   clients: p50 / p99 latency, requests/s, and the server's CPU time per request (its whole
   process tree, from /proc: on 2 cores nothing else uses, 2 / that is the most requests/s).
   Twice: readers given by their profile alone (the cold-start path), then readers with their
   library (the run's own test readers' libraries, ``library.reader_rows``: candidates from the
   library, re-ranked).
2. **Soak** (``--soak SECONDS``): 4 clients for that long, cycling through good requests and
   each kind of bad one; the status codes per kind, p50 / p99, the server's RSS (its process
   tree, from /proc) at the start, before the kill and at the end. Halfway, one uvicorn worker
   is killed (SIGKILL): what the clients saw in the 30 s before and after, and when uvicorn's
   replacement worker was ready.
3. **Limits**: the largest request the version's limits accept (its run's
   ``recommendation.limits``): every reader at the most books, the request's ISBN allowance
   spread over them; its time alone and its answer's size. Then a request of 20,000 readers
   (refused) and a normal request right after it.
4. ``--breakdown`` times the load's requests in this process too: the recommender alone, then
   the MLflow model's ``predict`` (schema check + kedro-mlflow's runner + the recommender), so
   the server's own share (HTTP, JSON) is the rest.

Readers cycle through a fixed list of profiles (known and unknown places, missing ages), so
every run sends the same requests.
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import http.client
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from book_recs.serving.mlflow_model import MODEL_NAME, model_uri
from book_recs.serving.server import (
    ServedModel,
    post,
    post_bytes,
    served_model,
    tree_cpu_seconds,
    tree_memory,
    worker_pids,
)

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
JSON = "application/json"
LIMITS = ("max_readers_per_request", "max_isbns_per_reader", "max_isbns_per_request", "max_top_n")
# The large request: 20,000 readers (1.1 MB), once answered with a 504 after 60 s.
LARGE_READERS = 20_000
# Soak: what follows a worker's kill is compared over this many seconds before and after it.
KILL_WINDOW = 30.0
# Soak: a client's requests at the most (the run is bounded in time too).
SOAK_MOST_REQUESTS = 200_000
# Soak: seconds between two readings of the server's RSS.
RSS_EVERY = 30.0


def requests(count: int, top_n: int, libraries: list[dict] | None = None) -> list[dict]:
    """``count`` single-reader request bodies, with the ``libraries`` in turn when given."""
    return [{"dataframe_records": [{**PROFILES[i % len(PROFILES)], "top_n": top_n,
                                    **(libraries[i % len(libraries)] if libraries else {})}]}
            for i in range(count)]


def libraries_of_test_readers(env: str, count: int = 200) -> list[dict]:
    """The libraries (``library``, ``library_ratings``) of the first ``count`` test readers of
    the environment's library protocol (in ``User-ID`` order)."""
    sys.path.insert(0, str(PROJECT_PATH / "benchmarks"))
    from stages import configured_globals

    rows = pd.read_parquet(PROJECT_PATH / configured_globals(env)["data_dir"] / "03_primary"
                           / "library" / "reader_rows.parquet")
    rows = rows[(rows["split"] == "test") & (rows["part"] == "library")]
    readers = rows.groupby("User-ID", sort=True)
    return [{"library": group["ISBN"].tolist(), "library_ratings": group["Book-Rating"].tolist()}
            for _, group in list(readers)[:count]]


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


def version_parameters(tracking_uri: str, uri: str) -> dict[str, int]:
    """The request limits of a ``models:/<name>/<version>`` model, as its training run logged
    them, and its recommender's candidate count K (the most books a reader can ask for)."""
    import mlflow
    from mlflow import MlflowClient

    from book_recs.serving.cli import quietly

    client = MlflowClient(tracking_uri=tracking_uri)
    name, version = uri.removeprefix("models:/").split("/")
    params = client.get_run(client.get_model_version(name, version).run_id).data.params
    found = {limit: int(params[f"recommendation.limits.{limit}"]) for limit in LIMITS}
    mlflow.set_tracking_uri(tracking_uri)
    with quietly():
        recommender = mlflow.pyfunc.load_model(uri).unwrap_python_model().loaded_catalog.load(
            "recommender")
    return {**found, "k": recommender.candidate_count}


def summary(latencies: list[float], seconds: float) -> str:
    ms = np.asarray(latencies) * 1e3
    return (f"p50 {np.percentile(ms, 50):7.1f} ms   p99 {np.percentile(ms, 99):7.1f} ms   "
            f"mean {ms.mean():7.1f} ms   {len(ms) / seconds:7.1f} requests/s")


def load_average() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def host_speed() -> str:
    """CPU seconds of two fixed loops, best of three each: Python arithmetic, and float32 matrix
    products of a re-ranker layer's shape. What the load average misses: a host whose cores other
    machines share. On this project's 2-core machines they took 0.14 s and 0.68 s in a quiet hour
    and up to 0.26 s and 1.3 s in a busy one, not always together, and the figures moved with
    them."""
    left, right = np.ones((200, 320), np.float32), np.ones((320, 200), np.float32)

    def python() -> None:
        total = 0
        for number in range(3_000_000):
            total += number * number

    def products() -> None:
        for _ in range(2_000):
            left @ right

    def best(loop: Callable[[], None]) -> float:
        seconds = []
        for _ in range(3):
            start = time.process_time()
            loop()
            seconds.append(time.process_time() - start)
        return min(seconds)
    return f"speed probe: Python {best(python):.2f} s, float32 products {best(products):.2f} s"


def load_clients(url: str, bodies: list[dict],
                 clients: int) -> tuple[list[float], float, int]:
    """Send ``bodies`` from ``clients`` threads, each its share one after the other: the
    latency of every request answered 200, the wall time of all, and how many were shed (503:
    a worker already held ``UVICORN_LIMIT_CONCURRENCY`` connections)."""
    def client(share: list[dict]) -> tuple[list[float], int]:
        latencies, shed = [], 0
        for body in share:
            start = time.perf_counter()
            status, answer = post(url, body)
            if status == 503:
                shed += 1
                continue
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {answer}")
            latencies.append(time.perf_counter() - start)
        return latencies, shed

    shares = [bodies[i::clients] for i in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, shares))
    return ([t for latencies, _ in results for t in latencies], time.perf_counter() - start,
            sum(shed for _, shed in results))


def measure_load(served: ServedModel, bodies: list[dict], client_counts: list[int]) -> None:
    """Latency, throughput and the server's CPU time per answered request at each client count."""
    for clients in client_counts:
        before, cpu = load_average(), tree_cpu_seconds(served.pid)
        latencies, seconds, shed = load_clients(served.url, bodies, clients)
        cpu_ms = (tree_cpu_seconds(served.pid) - cpu) / len(latencies) * 1e3
        print(f"  {clients:>2} client(s): {summary(latencies, seconds)}   server CPU "
              f"{cpu_ms:.1f} ms/request   shed (503) {shed}   ({before} -> "
              f"{os.getloadavg()[0]:.1f})")


def largest_request(limits: dict[str, int], libraries: list[dict]) -> dict:
    """Every reader the limits allow, each at the most books, the request's ISBN allowance spread
    over them: half a library of real books (the test readers' books in turn: each reader is
    ranked from the whole catalogue), half ISBNs to leave out outside any catalogue (each is
    looked up and counted in a note)."""
    readers = limits["max_readers_per_request"]
    per_reader = min(limits["max_isbns_per_reader"], limits["max_isbns_per_request"] // readers)
    books = list(dict.fromkeys(isbn for library in libraries for isbn in library["library"]))
    top_n = min(limits["max_top_n"], limits["k"])
    return {"dataframe_records": [
        {**PROFILES[i % len(PROFILES)], "top_n": top_n,
         "library": [books[(i * per_reader + j) % len(books)] for j in range(per_reader // 2)],
         "exclude_isbns": [f"unknown-{i:04d}-{j:05d}" for j in range(per_reader - per_reader // 2)]}
        for i in range(readers)]}


def timed_post(url: str, body: dict) -> tuple[int, bytes, float, int]:
    """Status, answer, seconds and the request's size in bytes."""
    data = json.dumps(body).encode()
    start = time.perf_counter()
    status, answer = post_bytes(url, data, timeout=120.0)
    return status, answer, time.perf_counter() - start, len(data)


def measure_limits(served: ServedModel, limits: dict[str, int], libraries: list[dict]) -> None:
    """The largest accepted request alone; the issue's 20,000 readers; a normal request after."""
    print(f"  limits of this version: {', '.join(f'{n} {limits[n]:,}' for n in LIMITS)} "
          f"(K = {limits['k']})")
    largest = largest_request(limits, libraries)
    for attempt in ("first", "second"):
        status, answer, seconds, size = timed_post(served.url, largest)
        print(f"  the largest accepted request ({attempt}): {size / 1e6:.2f} MB, HTTP {status} in "
              f"{seconds:.2f} s, answer {len(answer) / 1e6:.2f} MB  ({load_average()})")
    readers = {"dataframe_records": [PROFILES[i % len(PROFILES)] for i in range(LARGE_READERS)]}
    status, answer, seconds, size = timed_post(served.url, readers)
    print(f"  {LARGE_READERS:,} readers: {size / 1e6:.2f} MB, HTTP {status} in {seconds:.2f} s: "
          f"{json.loads(answer).get('message', '')[-110:]!r}")
    status, _, seconds, _ = timed_post(served.url, requests(1, 10)[0])
    print(f"  a normal request right after: HTTP {status} in {seconds * 1e3:.0f} ms  "
          f"({load_average()})")


@dataclass(frozen=True)
class Kind:
    """One kind of request of the soak: its bodies (cycled), content type and expected status."""

    bodies: list[bytes]
    content_type: str
    expected: int

    @property
    def valid(self) -> bool:
        return self.expected == 200


def soak_kinds(limits: dict[str, int]) -> dict[str, Kind]:
    def body(*records: dict, **extra) -> bytes:
        return json.dumps({"dataframe_records": list(records), **extra}).encode()

    reader = {**PROFILES[0], "top_n": 10}
    return {
        "good (1 reader)": Kind([body({**p, "top_n": 10}) for p in PROFILES], JSON, 200),
        "good (10 readers)": Kind([body(*[{**p, "exclude_isbns": ["0316666343"]}
                                          for p in PROFILES + PROFILES[:2]])], JSON, 200),
        "oversize readers": Kind([body(*[reader] * (limits["max_readers_per_request"] + 1))],
                                 JSON, 400),
        "oversize ISBN list": Kind([body({**reader, "exclude_isbns": [
            f"unknown-{j:05d}" for j in range(limits["max_isbns_per_reader"] + 1)]})], JSON, 400),
        "top_n too large": Kind([body({**reader, "top_n": limits["max_top_n"] + 1})], JSON, 400),
        "malformed JSON": Kind([b'{"dataframe_records": [{"Age": 34, "state": '], JSON, 400),
        "wrong content type": Kind([body(reader)], "text/plain", 415),
        "unknown top-level key": Kind([json.dumps({"readers": [reader]}).encode()], JSON, 400),
        # MLflow drops a column the signature does not declare (a warning in the server's log).
        "unknown reader field": Kind([body({**reader, "favourite_colour": "red"})], JSON, 200),
        "mistyped field": Kind([body({**reader, "Age": "thirty"}),
                                body({**reader, "state": 5}),
                                body({**reader, "exclude_isbns": "0316666343"})], JSON, 400),
    }


def soak_schedule(kinds: dict[str, Kind]) -> list[str]:
    """One cycle: mostly single-reader requests, one of each other kind."""
    return ["good (1 reader)"] * 10 + [name for name in kinds if name != "good (1 reader)"]


def soak_client(url: str, kinds: dict[str, Kind], offset: int, deadline: float,
                records: list[tuple]) -> None:
    """Requests one after the other until ``deadline``: (start, kind, outcome, seconds) each;
    the outcome is the HTTP status or the name of the connection error."""
    schedule = soak_schedule(kinds)
    for number in range(offset, offset + SOAK_MOST_REQUESTS):
        if time.perf_counter() >= deadline:
            return
        name = schedule[number % len(schedule)]
        kind = kinds[name]
        data = kind.bodies[number // len(schedule) % len(kind.bodies)]
        start = time.perf_counter()
        try:
            outcome = post_bytes(url, data, kind.content_type)[0]
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException,
                TimeoutError) as error:
            outcome = type(getattr(error, "reason", error)).__name__
        records.append((start, name, outcome, time.perf_counter() - start))


def kill_a_worker(served: ServedModel, at: float, events: dict[str, float]) -> None:
    """At ``at``, SIGKILL one uvicorn worker; note when uvicorn's replacement is ready (its log
    says "Application startup complete" once more)."""
    time.sleep(max(0.0, at - time.perf_counter()))
    workers = worker_pids(served.pid)
    if not workers:
        return
    started = served.log.read_text(errors="replace").count("Application startup complete")
    events["rss_before_kill"] = tree_memory(served.pid)
    os.kill(workers[0], signal.SIGKILL)
    events["kill"] = time.perf_counter()
    while time.perf_counter() - events["kill"] < 300:
        if served.log.read_text(errors="replace").count("Application startup complete") > started:
            events["replacement_ready"] = time.perf_counter()
            return
        time.sleep(0.2)


def sample_memory(served: ServedModel, until: float, samples: list[int]) -> None:
    """The server's RSS every ``RSS_EVERY`` seconds until ``until``."""
    while time.perf_counter() < until:
        samples.append(tree_memory(served.pid))
        time.sleep(min(RSS_EVERY, max(0.0, until - time.perf_counter())))
    samples.append(tree_memory(served.pid))


def percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "no request"
    ms = np.asarray(latencies) * 1e3
    return (f"p50 {np.percentile(ms, 50):.0f} ms, p99 {np.percentile(ms, 99):.0f} ms, "
            f"max {ms.max():.0f} ms")


def soak(served: ServedModel, limits: dict[str, int], seconds: float, clients: int) -> None:
    kinds = soak_kinds(limits)
    records: list[tuple] = []
    events: dict[str, float] = {}
    memory: list[int] = []
    load_start = load_average()
    start = time.perf_counter()
    watchers = [threading.Thread(target=kill_a_worker, args=(served, start + seconds / 2, events)),
                threading.Thread(target=sample_memory, args=(served, start + seconds, memory))]
    for watcher in watchers:
        watcher.start()
    with ThreadPoolExecutor(clients) as pool:
        for offset in range(clients):
            pool.submit(soak_client, served.url, kinds, offset * 7, start + seconds, records)
    for watcher in watchers:
        watcher.join()
    rss_start, rss_end = memory[0], memory[-1]
    frame = pd.DataFrame(records, columns=["start", "kind", "outcome", "seconds"])
    print(f"  soak: {clients} clients for {seconds:.0f} s, {len(frame):,} requests "
          f"({len(frame) / seconds:.1f}/s); {load_start} -> {os.getloadavg()[0]:.1f}")
    for name, rows in frame.groupby("kind", sort=False):
        outcomes = ", ".join(f"{outcome}: {count}" for outcome, count in
                             sorted(Counter(rows["outcome"].astype(str)).items()))
        print(f"    {name:<22} expected {kinds[name].expected}; {outcomes}; "
              f"{percentiles(rows['seconds'].tolist())}")
    valid = frame[frame["kind"].map(lambda name: kinds[name].valid)]
    server_errors = valid["outcome"].map(lambda o: isinstance(o, int) and o >= 500)
    dropped = valid[valid["outcome"].map(lambda o: not isinstance(o, int))]
    kill = events.get("kill", np.inf)
    in_flight = ((dropped["start"] < kill) & (dropped["start"] + dropped["seconds"] >= kill))
    print(f"  valid requests: {len(valid):,}; answered 5xx: {server_errors.sum()}; connection "
          f"dropped: {len(dropped)} ({in_flight.sum()} of them in flight at the worker's kill)")
    before_kill = events.get("rss_before_kill", rss_end)
    print(f"  server RSS (process tree): {rss_start / 2**20:,.0f} MB at the start, "
          f"{before_kill / 2**20:,.0f} MB before the kill, {rss_end / 2**20:,.0f} MB at the end "
          f"({(rss_end / rss_start - 1) * 100:+.1f}%); every {RSS_EVERY:.0f} s: "
          + ", ".join(f"{rss / 2**20:,.0f}" for rss in memory) + " MB")
    if "kill" not in events:
        print("  no worker killed (one worker: uvicorn runs the app in its own process)")
        return
    ready = events.get("replacement_ready")
    print(f"  worker killed at {kill - start:.0f} s; its replacement ready "
          + (f"{ready - kill:.1f} s later" if ready else "not within 300 s"))
    good = frame[frame["kind"].str.startswith("good")]
    windows = defaultdict(list)
    for row in good.itertuples():
        if kill - KILL_WINDOW <= row.start < kill:
            windows["before"].append(row)
        elif kill <= row.start < kill + KILL_WINDOW:
            windows["after"].append(row)
    for window in ("before", "after"):
        rows = windows[window]
        errors = Counter(str(r.outcome) for r in rows if r.outcome != 200)
        print(f"    good requests started {KILL_WINDOW:.0f} s {window} the kill: {len(rows)} "
              f"({len(rows) / KILL_WINDOW:.1f}/s), not 200: {dict(errors)}; "
              f"{percentiles([r.seconds for r in rows])}")


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
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--warmup", type=int, default=20, help="per worker")
    parser.add_argument("--top-n", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="also soak the server with good and bad requests this long")
    parser.add_argument("--soak-clients", type=int, default=4)
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.requests <= 10_000:
        parser.error("--requests must be from 1 to 10000")
    if not 0 <= args.soak <= 1_800:
        parser.error("--soak must be from 0 to 1800 seconds")

    uri = args.model_uri or model_uri(newest_version(args.tracking_uri, args.env))
    limits = version_parameters(args.tracking_uri, uri)
    libraries = libraries_of_test_readers(args.env)
    bodies = requests(args.requests, args.top_n)
    library_bodies = requests(args.requests, args.top_n, libraries)
    warmup = requests(args.warmup * args.workers, args.top_n, libraries)
    print(f"{uri} from {args.tracking_uri}; {os.cpu_count()} cores, {load_average()}, "
          f"{host_speed()} at the "
          f"start; {args.requests} single-reader top-{args.top_n} requests per client count, "
          f"{args.workers} worker(s)")
    with tempfile.TemporaryDirectory() as tmp, served_model(
            uri, args.tracking_uri, Path(tmp) / "serve.log", workers=args.workers) as served:
        print(f"  server answered /ping {served.startup_seconds:.1f} s after the command started; "
              f"RSS {tree_memory(served.pid) / 2**20:,.0f} MB")
        load_clients(served.url, warmup, args.workers)
        print("  readers by their profile (cold start):")
        measure_load(served, bodies, args.clients)
        print(f"  readers with their library ({len(libraries)} test readers' libraries in turn):")
        measure_load(served, library_bodies, args.clients)
        if args.soak:  # before the largest request: the RSS it starts from is the load's
            soak(served, limits, args.soak, args.soak_clients)
        measure_limits(served, limits, libraries)
    if args.breakdown:
        breakdown(uri, args.tracking_uri, bodies, warmup)
    print(f"{load_average()}, {host_speed()} at the end (a load average above "
          f"{os.cpu_count()}: the cores were shared with other work)")


if __name__ == "__main__":
    main()
