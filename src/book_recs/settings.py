"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/."""

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader

from book_recs.hooks import TrackingHooks


def raw_file(directory: str, stem: str) -> str:
    """Path of a raw Book-Crossing file, gzip or plain, whichever is there.

    ``BOOK_CROSSING_DIR`` in the environment overrides ``directory``, so the full data can live
    anywhere without editing the configuration. When neither file exists the ``.csv.gz`` path is
    returned, and loading it fails with an error that names it.
    """
    folder = Path(os.environ.get("BOOK_CROSSING_DIR", directory))
    gzipped, plain = folder / f"{stem}.csv.gz", folder / f"{stem}.csv"
    return str(plain if plain.exists() and not gzipped.exists() else gzipped)


HOOKS = (TrackingHooks(),)

# BOOK_RECS_TRACKING=off runs without MLflow: kedro-mlflow opens no run, so nothing is logged.
if os.environ.get("BOOK_RECS_TRACKING", "on").lower() in ("off", "0", "false", "no"):
    # Kedro matches the distribution name as its metadata spells it (kedro_mlflow); both for safety.
    DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"raw_file": raw_file},
    # Environments (full data, presets) state only what they change; the rest comes from base.
    "merge_strategy": {"parameters": "soft", "globals": "soft", "catalog": "soft"},
}
