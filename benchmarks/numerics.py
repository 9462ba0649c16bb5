"""What strict numerics cost: FinalMLP's seconds per epoch and scoring rows/s (tuned and paper
configs) and the title encoder's titles/s, under ``strict`` and ``fast`` on this machine, in one
run (book_recs.numerics).

Each measurement runs in a fresh process (the numerics are pinned when torch loads):
``finalmlp_speed.py`` (synthetic rows of the full data's shape, one epoch) and a cold encoding of
``--titles`` distinct titles of the raw books file in this process's encoder (one process, one
thread: the bit-stable ``TitleEncoder``). ``fast`` runs twice: with ``precision: auto`` (bf16
where the CPU has native bf16) and with fp32, so the kernels' share and bf16's share show apart.

    python benchmarks/numerics.py [--titles 3000] [--configs tuned base]
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from book_recs.numerics import child_environment

PROJECT_PATH = Path(__file__).resolve().parents[1]
SETTINGS = {"strict": ("strict", []), "fast": ("fast", []),
            "fast, fp32": ("fast", ["--set", "training.precision=fp32"])}


def run(arguments: list[str], mode: str) -> str:
    result = subprocess.run([sys.executable, *arguments], cwd=PROJECT_PATH, text=True,
                            capture_output=True, check=True,
                            env=child_environment(mode))
    return result.stdout


def finalmlp_speed(config: str, mode: str, extra: list[str]) -> tuple[float, float]:
    """(seconds of one epoch, scoring rows/s) of ``benchmarks/finalmlp_speed.py``."""
    output = run(["benchmarks/finalmlp_speed.py", "--env", config, *extra], mode)
    epoch = float(re.search(r"epoch 1: ([\d.]+) s", output).group(1))
    scoring = float(re.search(r"scoring [\d,]+ rows: [\d.]+ s, ([\d,]+) rows/s", output)
                    .group(1).replace(",", ""))
    return epoch, scoring


def titles_per_second(count: int, mode: str) -> float:
    output = run([__file__, "--encode", str(count)], mode)
    return float(re.search(r"titles/s ([\d.]+)", output).group(1))


def encode(count: int) -> None:
    """The child: encode ``count`` distinct titles of the raw books file, print titles/s."""
    import pandas as pd

    from book_recs.features.title_embeddings import load_title_encoder
    from book_recs.settings import raw_file

    books = pd.read_csv(raw_file(str(PROJECT_PATH / "data/01_raw"), "books"), dtype=str,
                        usecols=["Book-Title"], on_bad_lines="skip")
    titles = books["Book-Title"].dropna().drop_duplicates().sort_values().head(count).tolist()
    encoder = load_title_encoder("all-MiniLM-L6-v2", "cpu", processes=1)
    start = time.perf_counter()
    encoder.encode(titles)
    print(f"titles/s {len(titles) / (time.perf_counter() - start):.1f}")  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=3000)
    parser.add_argument("--configs", nargs="+", default=["tuned", "base"])
    parser.add_argument("--encode", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.encode:
        return encode(args.encode)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")  # noqa: T201
    print("| setting | " + " | ".join(f"{c}: s/epoch | {c}: scoring rows/s" for c in args.configs)  # noqa: T201
          + " | titles/s |")
    for name, (mode, extra) in SETTINGS.items():
        cells = []
        for config in args.configs:
            epoch, scoring = finalmlp_speed(config, mode, extra)
            cells += [f"{epoch:.1f}", f"{scoring:,.0f}"]
        titles = titles_per_second(args.titles, mode) if not extra else None
        print(f"| {name} | " + " | ".join(cells) + f" | {titles or '—'} |")  # noqa: T201
    print(f"load average {os.getloadavg()[0]:.1f} at the end")  # noqa: T201


if __name__ == "__main__":
    main()
