"""How time and memory grow with the data: the whole pipeline at 1x, 4x and 16x the full data.

The synthetic data is made from the real files, deterministically, by DuckDB:

- every user is cloned ``factor`` times with fresh ids (clone c of user u is ``u + c * 10**7``),
  same location and age;
- every book is cloned ``factor`` times with fresh ISBNs (``<isbn>-<c>``; clone 0 keeps the real
  one), same title, author, year and publisher, so the title-embedding cache serves every clone;
- each cloned user rates what the real user rated, with the same ratings in the same order, each
  book replaced by one of its clones drawn from a hash of (user clone, book): real users' patterns,
  spread over the cloned catalogue.

At 1x this is the real data. Each factor runs every stage in its own process (wall time, peak RSS)
with the ``tuned`` preset and a short training (one model, one epoch, a few CatBoost trees, 100
bootstrap resamples: the curve is about the pipeline, not the models). Then the data stages run at
1x on Spark ``local[2]`` for their time beside DuckDB's. Prints a Markdown table with the log-log
slope of each stage (1 = linear).

    python benchmarks/scaling.py                          # 1x 4x 16x, then Spark at 1x (~1 h here)
    python benchmarks/scaling.py --factors 1 4 --no-spark
    python benchmarks/scaling.py --data-stages            # cleaning, split and features only
"""

from __future__ import annotations

import book_recs  # noqa: F401  first: pins the numerics before numpy and torch load

# isort: split

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import yaml
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stages import DATA_STAGES, PROJECT_PATH, STAGES, measure_stages  # noqa: E402

SOURCE = PROJECT_PATH.parent / "shared" / "data" / "book-crossing"
WORK = PROJECT_PATH / "data" / "scaling"
USER_ID_STRIDE = 10**7
SHORT_TRAINING = {
    "parameters_finalmlp.yml": {
        name: {"training": {"epochs": 1, "ensemble_size": 1, "member_ranking_loss_weights": None}}
        for name in ("finalmlp", "dualmlp")},
    "parameters_baselines.yml": {"catboost_ranker": {"model": {"iterations": 20}},
                                 "catboost_classifier": {"model": {"iterations": 50}}},
    "parameters_evaluation.yml": {"evaluation": {"bootstrap_resamples": 100}},
}


def make_synthetic(source: Path, target: Path, factor: int, seed: int = 2021) -> None:
    """The three Kaggle-layout CSV files of the data cloned ``factor`` times (see the module)."""
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    read = "read_csv('{}', all_varchar = true, quote = '\"', escape = '\"', header = true)"
    clones = f"range({factor}) AS clones(c)"
    suffix = "CASE WHEN c = 0 THEN '' ELSE '-' || c END"
    queries = {
        "Users": f"""SELECT CAST("User-ID" AS BIGINT) + c * {USER_ID_STRIDE} AS "User-ID",
                     Location, Age
                     FROM (SELECT row_number() OVER () AS position, * FROM
                           {read.format(source / 'Users.csv.gz')}), {clones}
                     ORDER BY c, position""",
        "Books": f"""SELECT ISBN || {suffix} AS ISBN, "Book-Title", "Book-Author",
                     "Year-Of-Publication", Publisher, "Image-URL-S", "Image-URL-M", "Image-URL-L"
                     FROM (SELECT row_number() OVER () AS position, * FROM
                           {read.format(source / 'Books.csv.gz')}), {clones}
                     ORDER BY c, position""",
        "Ratings": f"""SELECT CAST("User-ID" AS BIGINT) + c * {USER_ID_STRIDE} AS "User-ID",
                       ISBN || CASE WHEN book_clone = 0 THEN '' ELSE '-' || book_clone END AS ISBN,
                       "Book-Rating"
                       FROM (SELECT *, hash({seed}, c, "User-ID", ISBN) % {factor} AS book_clone
                             FROM (SELECT row_number() OVER () AS position, * FROM
                                   {read.format(source / 'Ratings.csv.gz')}), {clones})
                       ORDER BY c, position""",
    }
    for name, query in queries.items():
        con.sql(f"COPY ({query}) TO '{target / name}.csv' (HEADER, DELIMITER ',')")


def scaling_conf(folder: Path, raw_dir: Path, data_dir: Path, engine: str) -> str:
    """A copy of conf/ with an environment ``scaling``: the ``tuned`` preset, the synthetic data
    and a short training. Returns the conf source folder."""
    conf = folder / "conf"
    shutil.copytree(PROJECT_PATH / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir(exist_ok=True)
    env = conf / "scaling"
    shutil.copytree(conf / "tuned", env)
    if engine == "pyspark":
        shutil.copy(conf / "spark" / "spark.yml", env / "spark.yml")
    for name, overrides in SHORT_TRAINING.items():
        path = env / name
        merged = OmegaConf.merge(OmegaConf.load(path) if path.exists() else {}, overrides)
        path.write_text(OmegaConf.to_yaml(merged))
    globals_ = OmegaConf.merge(OmegaConf.load(env / "globals.yml"), {
        "raw_data_dir": str(raw_dir), "data_dir": str(data_dir), "engine": engine})
    (env / "globals.yml").write_text(OmegaConf.to_yaml(globals_))
    return str(conf)


def slope(factors: list[int], values: list[float]) -> float:
    """Log-log slope of ``values`` against ``factors`` (least squares)."""
    return float(np.polyfit(np.log(factors), np.log(values), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--data-stages", action="store_true",
                        help="only the relational stages (cleaning, split, features)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic data afterwards")
    parser.add_argument("--source", type=Path, default=SOURCE,
                        help="folder of the real Kaggle-layout files (default: the full data)")
    args = parser.parse_args()

    stages = DATA_STAGES if args.data_stages else STAGES
    results: dict[int, list[dict]] = {}
    for factor in args.factors:
        raw = WORK / f"raw_{factor}x"
        make_synthetic(args.source, raw, factor)
        with tempfile.TemporaryDirectory() as folder:
            conf = scaling_conf(Path(folder), raw, WORK / f"out_{factor}x", "duckdb")
            results[factor] = measure_stages(stages, "scaling", conf, label=f"{factor:>2}x ")
        shutil.rmtree(WORK / f"out_{factor}x", ignore_errors=True)
    spark = None
    if not args.no_spark:
        with tempfile.TemporaryDirectory() as folder:
            conf = scaling_conf(Path(folder), WORK / "raw_1x", WORK / "out_spark", "pyspark")
            spark = measure_stages(DATA_STAGES, "scaling", conf, label="spark 1x ")
        shutil.rmtree(WORK / "out_spark", ignore_errors=True)
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)

    factors = sorted(results)
    print("\n| stage | " + " | ".join(f"{f}x" for f in factors)
          + (" | slope |" if len(factors) > 1 else " |")
          + (" Spark 1x |" if spark else ""))
    print("|---" * (len(factors) + 1 + (len(factors) > 1) + bool(spark)) + "|")
    for index, stage in enumerate(stages):
        cells = [f"{results[f][index]['seconds']:.0f} s, {results[f][index]['peak_mb'] / 1024:.1f} GB"
                 for f in factors]
        if len(factors) > 1:
            cells.append(f"{slope(factors, [results[f][index]['seconds'] for f in factors]):.2f}")
        if spark:
            cells.append(f"{spark[index]['seconds']:.0f} s" if index < len(spark) else "")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print(yaml.safe_dump({"peak_gb": {f: round(max(r["peak_mb"] for r in results[f]) / 1024, 1)
                                      for f in factors}}).strip())


if __name__ == "__main__":
    main()
