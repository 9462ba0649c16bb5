"""The server's process tree as the benchmark reads it from /proc: the processes under a root,
the uvicorn workers among them (started through multiprocessing), their memory and CPU time."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time

from book_recs.serving.server import process_tree, tree_cpu_seconds, tree_memory, worker_pids

HOLD = "data = b'x' * 80_000_000; print('ready', flush=True); import time; time.sleep(60)"


def test_a_childs_memory_and_cpu_time_count_in_its_parents_tree():
    with subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout.readline().strip() == b"ready"
            assert child.pid in process_tree(os.getpid())
            assert process_tree(child.pid) == [child.pid]
            assert tree_memory(os.getpid()) - tree_memory(child.pid) > 0
            assert tree_memory(child.pid) > 80_000_000
            assert tree_cpu_seconds(os.getpid()) > tree_cpu_seconds(child.pid) > 0
        finally:
            child.kill()


def test_the_workers_are_the_processes_started_through_multiprocessing():
    worker = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    worker.start()
    try:
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            workers = worker_pids(os.getpid())
            assert worker.pid in workers
            assert helper.pid not in workers
            assert os.getpid() not in workers
        finally:
            helper.kill()
            helper.wait()
    finally:
        worker.kill()
        worker.join()
