"""``book-recs recommend``: one reader's top-N books from the registered model, as a table.

    book-recs recommend --age 34 --state california --country usa --top 10 \\
        --exclude 0316666343 --library 0385504209 --library 0060928336:9

``--library ISBN[:RATING]`` (repeatable) gives the reader's own books, rated 1-10 or held (no
rating); without it the answer is the cold-start one (Age, state, country).

It loads ``models:/book_recs/<version>`` (the latest by default) from the tracking store
(``MLFLOW_TRACKING_URI``, else the project's ``sqlite:///mlflow.db``) and sends it the request a
served model receives, so the answer is the served model's.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import click
import pandas as pd

from book_recs.serving.mlflow_model import MODEL_NAME, model_uri

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def latest_version(tracking_uri: str) -> str:
    """The newest registered version of the recommender.

    Raises:
        click.ClickException: None is registered in the store.
    """
    from mlflow import MlflowClient

    versions = MlflowClient(tracking_uri=tracking_uri).search_model_versions(
        f"name='{MODEL_NAME}'")
    if not versions:
        raise click.ClickException(f"no model {MODEL_NAME!r} is registered in {tracking_uri}: "
                                   "a tracked `kedro run` registers one")
    return str(max(int(version.version) for version in versions))


@contextlib.contextmanager
def quietly() -> Iterator[None]:
    """No log lines and no warnings: Kedro logs its configuration and every node it runs (and a
    refused request as a failed node), MLflow warns about the wrapper's type hints (forcing its
    own warning filter, hence the redirected stderr); none of it helps a reader of the table.
    Errors still raise, and the command prints them."""
    logging.disable(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def load_model(version: str, tracking_uri: str):
    """A registered version of the recommender as an MLflow pyfunc model."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.pyfunc.load_model(model_uri(version))


def format_answer(answer: pd.DataFrame) -> str:
    """The answer of one reader as a table (rank, ISBN, title, author, score), then its note."""
    table = answer[["rank", "ISBN", "Book-Title", "Book-Author", "score"]].rename(
        columns={"Book-Title": "title", "Book-Author": "author"})
    text = table.to_string(index=False, formatters={"score": "{:.4f}".format})
    note = answer["note"].iloc[0] if len(answer) else ""
    return f"{text}\nnote: {note}" if note else text


@click.command(name="recommend")
@click.option("--age", type=float, default=None, help="The reader's age (omit when unknown).")
@click.option("--state", default=None, help="State or region, as in the data (e.g. california).")
@click.option("--country", default=None, help="Country, as in the data (e.g. usa).")
@click.option("--exclude", "exclude_isbns", multiple=True, metavar="ISBN",
              help="A book already read, never recommended back (repeatable).")
@click.option("--library", "library", multiple=True, metavar="ISBN[:RATING]",
              help="A book the reader holds, with its rating 1-10 if rated (repeatable).")
@click.option("--top", "top_n", type=int, default=10, show_default=True,
              help="How many books.")
@click.option("--version", default=None, help="Registered model version [default: latest].")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=DEFAULT_TRACKING_URI,
              show_default=True, help="The MLflow store (or MLFLOW_TRACKING_URI).")
def recommend(age: float | None, state: str | None, country: str | None,
              exclude_isbns: tuple[str, ...], library: tuple[str, ...], top_n: int,
              version: str | None, tracking_uri: str) -> None:
    """Print one reader's top-N books from the registered book_recs model."""
    from mlflow.exceptions import MlflowException

    version = version or latest_version(tracking_uri)
    reader = {"Age": age, "state": state, "country": country,
              "exclude_isbns": list(exclude_isbns) or None, "top_n": float(top_n)}
    if library:
        books = [book.partition(":") for book in library]
        if not all(rating.isdigit() for _, _, rating in books if rating):
            raise click.BadParameter("a rating is a whole number, as in 0060928336:9",
                                     param_hint="--library")
        reader.update(library=[isbn for isbn, _, _ in books],
                      library_ratings=[int(rating or 0) for _, _, rating in books])
    try:
        with quietly():
            model = load_model(version, tracking_uri)
            answer = model.predict(pd.DataFrame([reader]))
    except MlflowException as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{model_uri(version)} (run {model.metadata.run_id})")
    click.echo(format_answer(answer))
