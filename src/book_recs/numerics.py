"""How torch computes on the CPU: ``strict`` (the same bits on any x86-64 CPU with AVX2) or
``fast`` (this machine's own kernels). No Kedro here.

torch picks its CPU kernels by instruction set: MKL's GEMM, ATen's vectorised kernels and oneDNN
each take the widest the CPU has. On an AVX-512 CPU a 30-step FinalMLP training and a title
encoding give other bytes than on an AVX2 CPU, and other bytes again with another thread count
(ATen splits its reductions by thread). ``strict`` holds all of it still:

- MKL's conditional numerical reproducibility on its AVX2 code path, strict mode
  (``MKL_CBWR=AVX2,STRICT``);
- ATen's vectorised kernels at AVX2 (``ATEN_CPU_CAPABILITY=avx2``);
- oneDNN at AVX2 at most (``ONEDNN_MAX_CPU_ISA=AVX2``);
- OpenBLAS (numpy's and scipy's: the title PCA, EASE's inverse) on its Haswell (AVX2) kernels
  and the same thread count (``OPENBLAS_CORETYPE=Haswell``, ``OPENBLAS_NUM_THREADS``);
- torch's thread count (``BOOK_RECS_THREADS``, 2 by default: the count the published tables
  were made with), also on a machine with more or fewer cores.

The variables are read once, when each library loads or first computes: ``pin_numerics`` sets
them before torch (and with it numpy) is imported. ``book_recs/__init__.py`` calls it, so every way in passes through it: ``kedro
run`` (Kedro imports the project's settings, inside this package, before any node), the served
MLflow model (unpickling the recommender imports this package), ``book-recs recommend``, the
title encoder's worker processes and the data-parallel trainers (they inherit the environment).

``BOOK_RECS_NUMERICS=fast`` leaves the machine's kernels and thread count alone, and lets
``precision: auto`` pick bf16 where the hardware computes it natively
(``resolve_precision``).

    >>> describe(Numerics("strict", threads=2))  # doctest: +NORMALIZE_WHITESPACE
    'strict (MKL_CBWR=AVX2,STRICT ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
    OPENBLAS_CORETYPE=Haswell, 2 threads)'
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

MODE_VARIABLE = "BOOK_RECS_NUMERICS"
THREADS_VARIABLE = "BOOK_RECS_THREADS"
MODES = ("strict", "fast")
STRICT_THREADS = 2
STRICT_ENVIRONMENT = {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2",
                      "ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}
"""What ``strict`` sets before torch and numpy load (it replaces any value already there);
``OPENBLAS_NUM_THREADS`` follows the thread count."""
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Numerics:
    """The numerics this process runs with.

    Attributes:
        mode: ``strict`` or ``fast``.
        threads: torch's thread count under ``strict``; None under ``fast`` (torch's own choice).
    """

    mode: Literal["strict", "fast"]
    threads: int | None = None


def numerics_from_environment(environment: dict[str, str] | None = None) -> Numerics:
    """The numerics ``BOOK_RECS_NUMERICS`` and ``BOOK_RECS_THREADS`` ask for.

    >>> numerics_from_environment({"BOOK_RECS_NUMERICS": "fast"})
    Numerics(mode='fast', threads=None)
    >>> numerics_from_environment({})
    Numerics(mode='strict', threads=2)

    Raises:
        ValueError: An unknown mode, or a thread count that is not a positive whole number.
    """
    environment = os.environ if environment is None else environment
    mode = environment.get(MODE_VARIABLE, "strict").strip().lower()
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {MODES}, got {mode!r}")
    if mode == "fast":
        return Numerics("fast")
    threads = environment.get(THREADS_VARIABLE, str(STRICT_THREADS)).strip()
    if not threads.isdigit() or int(threads) < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive whole number, got {threads!r}")
    return Numerics("strict", int(threads))


def pin_numerics() -> Numerics:
    """Set the environment of the numerics asked for, before torch loads, and torch's thread
    count; return them. Called once by ``book_recs/__init__.py``.

    Under ``strict``, torch imported earlier (by code that ran before ``book_recs``) may already
    have chosen its kernels: that is warned about, as the bits are then not guaranteed.
    """
    numerics = numerics_from_environment()
    if numerics.mode == "strict":
        if "torch" in sys.modules:
            warnings.warn("torch was imported before book_recs: strict numerics may not hold "
                          "(import book_recs first)", RuntimeWarning, stacklevel=2)
        if "numpy" in sys.modules:  # e.g. MLflow's server: it only serves, it fits nothing
            logger.info("numpy was loaded before book_recs: its OpenBLAS keeps this machine's "
                        "kernels in this process")
        os.environ.update(STRICT_ENVIRONMENT, OPENBLAS_NUM_THREADS=str(numerics.threads))
        import torch

        torch.set_num_threads(numerics.threads)
    return numerics


def child_environment(mode: str, environment: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process to run under ``mode``: this one's, without the
    variables ``strict`` pinned here (a ``fast`` child of a strict process would otherwise
    inherit its AVX2 kernels and thread count).

    >>> child_environment("fast", {"MKL_CBWR": "AVX2,STRICT", "OPENBLAS_NUM_THREADS": "2", "HOME": "/h"})
    {'HOME': '/h', 'BOOK_RECS_NUMERICS': 'fast'}
    """
    environment = os.environ if environment is None else environment
    pinned = (*STRICT_ENVIRONMENT, "OPENBLAS_NUM_THREADS")
    return {**{name: value for name, value in environment.items() if name not in pinned},
            MODE_VARIABLE: mode}


def current_numerics() -> Numerics:
    """The numerics of this process (as ``pin_numerics`` set them)."""
    return numerics_from_environment()


def describe(numerics: Numerics) -> str:
    """One line for logs and MLflow tags."""
    if numerics.mode == "fast":
        return "fast (this machine's kernels and thread count)"
    pinned = " ".join(f"{name}={value}" for name, value in STRICT_ENVIRONMENT.items())
    return f"strict ({pinned}, {numerics.threads} threads)"


def kernel_key(device_type: str, numerics: Numerics | None = None) -> str:
    """What a vector computed by torch on ``device_type`` depends on besides its inputs: a
    cache key part (the title cache keeps the vectors of each apart).

    >>> kernel_key("cpu", Numerics("strict", 2))
    'cpu-strict-avx2'
    >>> kernel_key("cuda", Numerics("strict", 2))
    'cuda'
    """
    if device_type != "cpu":
        return device_type  # strict pins the CPU's kernels only
    numerics = numerics or current_numerics()
    if numerics.mode == "strict":
        return f"cpu-strict-{STRICT_ENVIRONMENT['ATEN_CPU_CAPABILITY']}"
    import torch

    return f"cpu-fast-{torch.backends.cpu.get_cpu_capability().lower()}"


def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` (``cpu`` or ``cuda``) computes bf16 matmuls in hardware: a GPU
    that torch says supports bf16, a CPU with AVX512_BF16 or AMX tiles whose oneDNN is not held
    below them (``ONEDNN_MAX_CPU_ISA``, as strict holds it at AVX2). Elsewhere torch emulates
    bf16: on this project's paper config 25 times slower than fp32."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    onednn_bf16 = isa == "ALL" or isa.startswith(("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX10"))
    return onednn_bf16 and (torch.cpu._is_avx512_bf16_supported()
                            or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str, device_type: str,
                      numerics: Numerics | None = None) -> Literal["fp32", "bf16"]:
    """The precision a ``precision`` option means on ``device_type``: ``auto`` is bf16 under
    ``fast`` numerics on hardware with native bf16, else fp32 (``strict`` keeps fp32: bf16's
    kernels are the machine's own).

    >>> resolve_precision("auto", "cpu", Numerics("strict", 2))
    'fp32'
    >>> resolve_precision("bf16", "cpu", Numerics("strict", 2))
    'bf16'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    numerics = numerics or current_numerics()
    return "bf16" if numerics.mode == "fast" and native_bf16(device_type) else "fp32"
