"""Strict numerics: the same bytes on any x86-64 CPU with AVX2 (book_recs.numerics).

The probe (tests/numerics_probe.py: a short FinalMLP training at the paper's widths and a title
encoding) runs in fresh processes, natively and with the instruction set held to AVX2 as on an
older CPU, under ``strict`` and under ``fast``: strict must give identical weight and vector
bytes. Where the capped kernels give the native bytes under ``fast`` too (a CPU whose widest set
is AVX2), the comparison proves nothing, and the test says so by skipping after its checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from book_recs.numerics import (
    STRICT_ENVIRONMENT,
    Numerics,
    child_environment,
    describe,
    kernel_key,
    native_bf16,
    numerics_from_environment,
    resolve_precision,
)
from tests.conftest import AVX2_CAPS

PROJECT_PATH = Path(__file__).resolve().parents[1]


def probe(mode: str, capped: bool) -> dict:
    environment = child_environment(mode)
    if capped:
        environment.update(AVX2_CAPS)
    else:
        for name in AVX2_CAPS:
            environment.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "tests.numerics_probe"], cwd=PROJECT_PATH,
                            env=environment, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_strict_numerics_give_the_same_bytes_on_capped_kernels():
    runs = [(mode, capped) for mode in ("strict", "fast") for capped in (False, True)]
    with ThreadPoolExecutor(2) as pool:
        (strict, strict_capped, fast, fast_capped) = pool.map(lambda run: probe(*run), runs)
    assert strict["aten"] == strict_capped["aten"] == "AVX2"
    assert strict["threads"] == strict_capped["threads"] == 2
    for output in ("weights", "titles"):
        assert strict[output] == strict_capped[output], output
    moved = [output for output in ("weights", "titles") if fast[output] != fast_capped[output]]
    if not moved:
        pytest.skip(f"proves nothing here: this CPU's own kernels ({fast['aten']}) give the bytes "
                    "of AVX2-capped ones, so strict had nothing to hold still")


def test_the_mode_and_the_thread_count_come_from_the_environment():
    assert numerics_from_environment({}) == Numerics("strict", 2)
    assert numerics_from_environment({"BOOK_RECS_NUMERICS": " Fast "}) == Numerics("fast")
    assert numerics_from_environment({"BOOK_RECS_THREADS": "4"}) == Numerics("strict", 4)
    with pytest.raises(ValueError, match="BOOK_RECS_NUMERICS"):
        numerics_from_environment({"BOOK_RECS_NUMERICS": "exact"})
    with pytest.raises(ValueError, match="BOOK_RECS_THREADS"):
        numerics_from_environment({"BOOK_RECS_THREADS": "0"})


def test_this_process_runs_strict_unless_told_otherwise():
    import torch

    import book_recs

    if os.environ.get("BOOK_RECS_NUMERICS", "strict") != "strict":
        pytest.skip("the suite runs under BOOK_RECS_NUMERICS=fast")
    assert book_recs.NUMERICS == Numerics("strict", 2)
    assert torch.backends.cpu.get_cpu_capability() == "AVX2"
    assert all(os.environ[name] == value for name, value in STRICT_ENVIRONMENT.items())
    assert describe(book_recs.NUMERICS).startswith("strict (MKL_CBWR=AVX2,STRICT")


def test_auto_precision_is_bf16_only_when_fast_on_native_bf16(monkeypatch):
    monkeypatch.setattr("book_recs.numerics.native_bf16", lambda device_type: True)
    assert resolve_precision("auto", "cpu", Numerics("fast")) == "bf16"
    assert resolve_precision("auto", "cpu", Numerics("strict", 2)) == "fp32"
    assert resolve_precision("fp32", "cpu", Numerics("fast")) == "fp32"
    monkeypatch.setattr("book_recs.numerics.native_bf16", lambda device_type: False)
    assert resolve_precision("auto", "cuda", Numerics("fast")) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", "cpu")


def test_the_kernel_key_tells_strict_from_fast(monkeypatch):
    monkeypatch.setattr("torch.backends.cpu.get_cpu_capability", lambda: "AVX512")
    assert kernel_key("cpu", Numerics("strict", 2)) == "cpu-strict-avx2"
    assert kernel_key("cpu", Numerics("fast")) == "cpu-fast-avx512"
    assert kernel_key("cuda", Numerics("fast")) == "cuda"


def test_bf16_is_not_native_where_onednn_is_held_below_it(monkeypatch):
    # A fast child of a strict process inherited oneDNN at AVX2: bf16 there ran 25x slower than fp32.
    monkeypatch.setattr("torch.cpu._is_avx512_bf16_supported", lambda: True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not native_bf16("cpu")
    assert resolve_precision("auto", "cpu", Numerics("fast")) == "fp32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert native_bf16("cpu")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert native_bf16("cpu")


def test_a_fast_child_of_a_strict_process_gets_the_machines_kernels():
    environment = child_environment("fast", {**STRICT_ENVIRONMENT, "OPENBLAS_NUM_THREADS": "2",
                                             "PATH": "/bin"})
    assert environment == {"PATH": "/bin", "BOOK_RECS_NUMERICS": "fast"}
