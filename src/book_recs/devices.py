"""Where torch computes: the project's one spelling of a device option (no Kedro here).

A device option is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; ``auto`` means ``cuda`` when torch
sees a GPU, else ``cpu``.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto") == resolve_device("cuda" if torch.cuda.is_available() else "cpu")
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch
from threadpoolctl import ThreadpoolController

DEVICE_OPTIONS = "auto | cpu | cuda | cuda:N"


def resolve_device(name: str) -> torch.device:
    """The torch device a device option names.

    Args:
        name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        ``cuda`` for ``auto`` when ``torch.cuda.is_available()``, else ``cpu``; the named device
        otherwise.

    Raises:
        ValueError: Any other name, or a GPU that torch does not see (asking for ``cuda`` on a
            machine without one is an error, not a silent fall-back to the CPU).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (
            device.type == "cpu" and device.index is not None):
        raise ValueError(f"device {name!r} is not one of {DEVICE_OPTIONS}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: torch sees no GPU on this machine (use auto or cpu)")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: torch sees {torch.cuda.device_count()} GPU(s)")
    return device


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch computes with one thread inside the block.

    Thread counts change the bits (small matrices are split differently), and on few, shared
    cores a second OpenMP thread mostly waits for the first: a 500 x 250 by 250 x 200 product
    took 24 ms on two threads and 1.3 ms on one on this 2-core machine under load.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@cache
def _blas() -> ThreadpoolController:
    # Built once (it scans the loaded libraries): its ``limit`` then costs microseconds.
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's and scipy's BLAS compute with one thread inside the block: where a product's bits
    must not depend on the thread count, and where other threads give the parallelism (a served
    model's workers: OpenBLAS's threads spinning after each product doubled a served library
    request's CPU time, 117 ms instead of 57)."""
    with _blas().limit(limits=1, user_api="blas"):
        yield
