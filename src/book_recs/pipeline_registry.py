"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Run on request only (`kedro run --pipeline tuning`): a search is many trainings.
ON_REQUEST = ("tuning",)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every folder under ``pipelines/`` is one pipeline; ``__default__`` is all of them but the ones
    run on request.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipe for name, pipe in pipelines.items() if name not in ON_REQUEST), Pipeline([])
    )
    return pipelines
