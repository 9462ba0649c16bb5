"""Project commands (Kedro loads ``cli`` from here over its own).

``kedro run`` is Kedro's own, with one change: when a raw file cannot be used (missing, truncated
gzip, binary, unknown encoding, a missing column, no rows), the run stops with one line that names
the file and the fault, the last thing printed, instead of a library's traceback.

``kedro recommend`` (also ``book-recs recommend``) prints one reader's top-N books from the
registered model (``book_recs.serving.cli``).
"""

from __future__ import annotations

import click
from kedro.framework.cli.project import run as kedro_run

from book_recs.datasets.raw_csv import RawDataError
from book_recs.serving.cli import recommend


def raw_data_error(error: BaseException | None) -> RawDataError | None:
    """The ``RawDataError`` behind ``error`` (Kedro wraps a dataset's error in its own), if any."""
    while error is not None:
        if isinstance(error, RawDataError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _run(**kwargs) -> None:
    try:
        kedro_run.callback(**kwargs)
    except Exception as error:
        raw = raw_data_error(error)
        if raw is None:
            raise
        raise click.ClickException(str(raw)) from None


@click.group(name="book_recs")
def cli() -> None:
    """Commands of the book_recs project."""


cli.add_command(click.Command(name="run", callback=_run, params=kedro_run.params,
                              help=kedro_run.help, short_help=kedro_run.short_help))
cli.add_command(recommend)
