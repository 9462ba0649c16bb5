"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/."""

import os

from kedro.config import OmegaConfigLoader

from book_recs.datasets.raw_csv import find_raw_file
from book_recs.hooks import SparkHooks, TrackingHooks


def raw_file(directory: str, table: str) -> str:
    """Path of a raw Book-Crossing file (``users``, ``ratings`` or ``books``) in ``directory``: the
    Kaggle or the BX-CSV-Dump name, gzip or plain, whichever is there (``find_raw_file``).

    ``BOOK_CROSSING_DIR`` in the environment overrides ``directory``, so the full data can live
    anywhere without editing the configuration.
    """
    return find_raw_file(os.environ.get("BOOK_CROSSING_DIR", directory), table)


HOOKS = (TrackingHooks(), SparkHooks())

# BOOK_RECS_TRACKING=off runs without MLflow: kedro-mlflow opens no run, so nothing is logged.
if os.environ.get("BOOK_RECS_TRACKING", "on").lower() in ("off", "0", "false", "no"):
    # Kedro matches the distribution name as its metadata spells it (kedro_mlflow); both for safety.
    DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"raw_file": raw_file},
    # conf/<env>/spark.yml: the Spark session of the `spark` engine (SparkHooks).
    "config_patterns": {"spark": ["spark*", "spark*/**"]},
    # Environments (full data, presets) state only what they change; the rest comes from base.
    "merge_strategy": {"parameters": "soft", "globals": "soft", "catalog": "soft"},
}
