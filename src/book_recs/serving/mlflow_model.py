"""The recommender as an MLflow Model: its name, signature and input example, and how to load
the registered versions back (no Kedro here).

Every tracked ``kedro run`` logs the ``recommendation`` pipeline's inference node, bound to the
``recommender`` it trained, through kedro-mlflow's ``pipeline_ml_factory`` (see
``pipeline_registry.py``) and registers it as ``MODEL_NAME``. Serve a version with

    mlflow models serve -m models:/book_recs/1 --env-manager local -h 127.0.0.1 -p 5001

The signature declares the request's columns. ``exclude_isbns``, ``library`` and
``library_ratings`` are declared ``Any`` because MLflow cannot read an optional list column whose
key some records omit (it becomes NaN before the model sees it); the recommender itself checks
that they are lists of text ISBNs and of ratings 0-10. ``top_n`` is a
double for the same reason (an omitted integer is NaN), checked to be a whole number.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, ColSpec, Schema

from book_recs import __version__

MODEL_NAME = "book_recs"
"""The registered model name of the recommender in the MLflow model registry."""
INPUT_NAME = "readers"
"""The catalog dataset a request replaces (kedro-mlflow's ``input_name``)."""

SIGNATURE = ModelSignature(
    inputs=Schema([
        ColSpec("double", "Age"),
        ColSpec("string", "state"),
        ColSpec("string", "country"),
        ColSpec(AnyType(), "exclude_isbns", required=False),
        ColSpec("double", "top_n", required=False),
        ColSpec(AnyType(), "library", required=False),
        ColSpec(AnyType(), "library_ratings", required=False),
    ]),
    outputs=Schema([
        ColSpec("long", "reader"),
        ColSpec("long", "rank"),
        ColSpec("string", "ISBN"),
        ColSpec("string", "Book-Title"),
        ColSpec("string", "Book-Author"),
        ColSpec("double", "score"),
        ColSpec("string", "note"),
    ]),
)
INPUT_EXAMPLE = pd.DataFrame([
    {"Age": 34.0, "state": "california", "country": "usa", "exclude_isbns": ["0316666343"],
     "top_n": 10.0, "library": ["0385504209", "0060928336"], "library_ratings": [9, 0]},
])


def log_model_kwargs() -> dict[str, Any]:
    """What kedro-mlflow passes to ``mlflow.pyfunc.log_model`` at the end of a tracked run."""
    return {
        "name": MODEL_NAME,
        "registered_model_name": MODEL_NAME,
        "signature": SIGNATURE,
        "input_example": INPUT_EXAMPLE,
        # The model runs the project's own code: serve it from the project's environment
        # (`--env-manager local`). Stating it saves MLflow inferring it by loading the model.
        "pip_requirements": [f"book_recs=={__version__}"],
    }


def model_uri(version: int | str | None = None) -> str:
    """``models:/book_recs/<version>``; the latest version when none is given."""
    return f"models:/{MODEL_NAME}/{'latest' if version is None else version}"
