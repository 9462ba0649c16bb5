"""The recommender as a user serves it: `mlflow models serve -m models:/book_recs/<version>
--env-manager local` on the model that the suite's shared sample run registered in its own
MLflow store, and `book-recs recommend` on the same store.

Good requests get each reader's top N best first, never a left-out book, and the very scores of
the batch `recommendation` pipeline; bad requests get HTTP 400 naming the field (never a 500 or
a traceback); unknown places and ISBNs are answered, with a note."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from book_recs.serving.cli import latest_version, recommend
from book_recs.serving.mlflow_model import model_uri
from book_recs.serving.server import post, served_model

pytestmark = pytest.mark.slow

READER = {"Age": 34, "state": "california", "country": "usa"}


@pytest.fixture(scope="module")
def store(sample_run) -> str:
    return f"sqlite:///{sample_run / 'mlflow.db'}"


@pytest.fixture(scope="module")
def recommendation_params(sample_run) -> dict:
    """The sample run's `recommendation` parameters (its batch request, its K)."""
    path = sample_run / "conf" / "base" / "parameters_recommendation.yml"
    return yaml.safe_load(path.read_text())["recommendation"]


@pytest.fixture(scope="module")
def server(sample_run, store, tmp_path_factory):
    """The latest registered version, served on a free 127.0.0.1 port; stopped afterwards."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with served_model(model_uri(latest_version(store)), store, log, cwd=sample_run) as served:
        logging.getLogger(__name__).info("server answered /ping after %.1f s",
                                         served.startup_seconds)
        yield served.url


def answers(server: str, *readers: dict) -> pd.DataFrame:
    status, body = post(server, {"dataframe_records": list(readers)})
    assert status == 200, body
    return pd.DataFrame(body["predictions"])


def test_the_served_model_gives_the_batch_pipelines_answer(server, sample_run,
                                                           recommendation_params):
    """The batch run's first reader, sent as a request: same books, same order, same scores."""
    reader = recommendation_params["readers"][0]
    answer = answers(server, reader)
    batch = pd.read_csv(sample_run / "data" / "08_reporting" / "profile_recommendations.csv",
                        dtype={"ISBN": str})
    batch = batch[batch["reader"] == 0]
    assert len(answer) == reader["top_n"] == len(batch)
    assert answer["rank"].tolist() == list(range(1, reader["top_n"] + 1))
    assert answer["ISBN"].tolist() == batch["ISBN"].tolist()
    # float32: the batch scores other readers' rows beside this one's, which may move a last bit.
    np.testing.assert_allclose(answer["score"], batch["score"], rtol=1e-6)
    assert answer["score"].is_monotonic_decreasing
    assert not answer["ISBN"].isin(reader["exclude_isbns"]).any()
    assert answer[["Book-Title", "Book-Author"]].notna().all().all()


def library_of(sample_run: Path, user: int) -> dict:
    """A test reader of the sample run's library protocol as a request: profile and library."""
    primary = sample_run / "data" / "03_primary" / "library"
    rows = pd.read_parquet(primary / "reader_rows.parquet")
    rows = rows[(rows["User-ID"] == user) & (rows["part"] == "library")]
    profile = pd.read_parquet(primary / "reader_profiles.parquet").set_index("User-ID").loc[user]
    return {"Age": None if pd.isna(profile["Age"]) else float(profile["Age"]),
            "state": profile["state"], "country": profile["country"],
            "library": rows["ISBN"].tolist(), "library_ratings": rows["Book-Rating"].tolist()}


def test_readers_libraries_are_served_as_the_batch_evaluation_ranked_them(server, sample_run):
    """Two test readers of the library protocol, sent with their libraries: each gets the list
    the batch run evaluated (one scoring path), never one of their own books; the lists differ."""
    batch = pd.read_parquet(sample_run / "data" / "07_model_output" / "library" / "recommender"
                            / "top_n_test.parquet")
    users = batch["User-ID"].drop_duplicates().head(2).tolist()
    served = []
    for user in users:
        request = library_of(sample_run, user)
        answer = answers(server, {**request, "top_n": 10})
        expected = batch[batch["User-ID"] == user]
        assert answer["ISBN"].tolist() == expected["ISBN"].tolist()
        np.testing.assert_allclose(answer["score"], expected["score"], rtol=1e-6)
        assert not answer["ISBN"].isin(request["library"]).any()
        # The only note: the library's books outside the train catalogue, if any.
        assert answer["note"].iloc[0] == "" or answer["note"].iloc[0].startswith(
            "library ISBNs not in the catalogue: ")
        served.append(answer["ISBN"].tolist())
    assert served[0] != served[1]


def test_an_empty_library_falls_back_to_the_cold_start_list_and_says_so(server):
    cold = answers(server, READER)
    answer = answers(server, {**READER, "library": []})
    assert answer["ISBN"].tolist() == cold["ISBN"].tolist()
    assert answer["note"].iloc[0].startswith("the library holds no catalogue book: cold-start")


def test_a_left_out_book_makes_room_for_the_next_one(server):
    both = answers(server, {**READER, "top_n": 10}, {**READER, "top_n": 10})
    first = both[both["reader"] == 0]
    left_out = first["ISBN"].iloc[0]
    answer = answers(server, {**READER, "top_n": 10, "exclude_isbns": [left_out]})
    assert left_out not in answer["ISBN"].tolist()
    assert answer["ISBN"].tolist()[:9] == first["ISBN"].tolist()[1:]
    assert answer["ISBN"].iloc[9] not in first["ISBN"].tolist()
    assert both[both["reader"] == 1]["ISBN"].tolist() == first["ISBN"].tolist()


def test_unknown_places_and_isbns_are_answered_with_a_note(server):
    answer = answers(server, {"Age": None, "state": "atlantis", "country": "oz",
                              "exclude_isbns": ["not-an-isbn"], "top_n": 3})
    assert len(answer) == 3
    note = answer["note"].iloc[0]
    assert "state 'atlantis' is not in the training vocabulary" in note
    assert "country 'oz' is not in the training vocabulary" in note
    assert "left-out ISBNs not in the catalogue: 1 ('not-an-isbn')" in note
    assert answer["note"].iloc[1:].eq("").all()  # once per reader


@pytest.mark.parametrize(("reader", "field"), [
    ({"Age": 34, "state": "california"}, "country"),          # missing
    ({**READER, "Age": "thirty"}, "Age"),                      # mistyped (MLflow's check)
    ({**READER, "state": 5}, "state"),                         # mistyped (the recommender's)
    ({**READER, "exclude_isbns": "0316666343"}, "exclude_isbns"),
    ({**READER, "library": "0316666343"}, "library"),
    ({**READER, "library": ["0316666343"], "library_ratings": [11]}, "library_ratings"),
    ({**READER, "top_n": 0}, "top_n"),
    ({**READER, "top_n": -3}, "top_n"),
    ({**READER, "top_n": "ten"}, "top_n"),
    ({**READER, "top_n": "above K"}, "top_n"),                 # K + 1, filled in below
    (None, "Age"),                                             # no readers at all
])
def test_a_bad_request_gets_400_naming_the_field(server, recommendation_params, reader, field):
    if reader is not None and reader.get("top_n") == "above K":
        reader = {**reader, "top_n": recommendation_params["candidates"]["k"] + 1}
    status, body = post(server, {"dataframe_records": [] if reader is None else [reader]})
    assert status == 400, body
    assert field in body["message"]
    assert "Traceback" not in body["message"]


def test_a_request_beyond_a_limit_gets_400_naming_it_and_the_next_one_is_answered(
        server, recommendation_params):
    """The limits of the sample run's parameters, enforced by the served model."""
    most = recommendation_params["limits"]["max_readers_per_request"]
    status, body = post(server, {"dataframe_records": [READER] * (most + 1)})
    assert status == 400, body
    assert f"readers: above the limit max_readers_per_request = {most:,}, got {most + 1:,}" in (
        body["message"])
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert len(answers(server, READER)) == 10


def test_the_longest_isbn_list_is_answered_in_a_few_rows_and_a_longer_one_refused(
        server, recommendation_params):
    """A reader's whole allowance of unknown ISBNs: the answer holds the top N and a short note,
    not the list again."""
    most = recommendation_params["limits"]["max_isbns_per_reader"]
    unknown = [f"unknown-{number:06d}" for number in range(most + 1)]
    status, body = post(server, {"dataframe_records": [{**READER, "exclude_isbns": unknown}]})
    assert status == 400, body
    assert f"above the limit max_isbns_per_reader = {most:,}, got {most + 1:,}" in body["message"]
    request = {"dataframe_records": [{**READER, "exclude_isbns": unknown[:most], "top_n": 3}]}
    status, body = post(server, request)
    assert status == 200, body
    assert len(json.dumps(body)) < 2_000 < len(json.dumps(request)) // 100
    assert f"left-out ISBNs not in the catalogue: {most:,} (the first 5: " in (
        body["predictions"][0]["note"])


@pytest.fixture
def tracking_uri_kept():
    """The CLI sets MLflow's tracking URI (and its environment variable) for its process: give it
    back to the rest of the test session."""
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow.set_tracking_uri(tracking_uri)  # None: MLflow's default again, the variable unset


def test_the_cli_prints_a_readers_table(store, tracking_uri_kept):
    result = CliRunner().invoke(recommend, ["--age", "34", "--state", "california", "--country",
                                            "usa", "--top", "10", "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{model_uri(latest_version(store))} (run ")
    assert lines[1].split() == ["rank", "ISBN", "title", "author", "score"]
    assert [line.split()[0] for line in lines[2:12]] == [str(rank) for rank in range(1, 11)]
    assert len(lines) == 12  # a known reader: no note


def test_the_cli_names_the_field_of_a_bad_request(store, tracking_uri_kept):
    result = CliRunner().invoke(recommend, ["--age", "34", "--state", "california", "--top", "0",
                                            "--tracking-uri", store])
    assert result.exit_code == 1
    assert result.output.startswith("Error: top_n: ")


def test_the_cli_reads_a_library(store, sample_run, tracking_uri_kept):
    batch = pd.read_parquet(sample_run / "data" / "07_model_output" / "library" / "recommender"
                            / "top_n_test.parquet")
    user = int(batch["User-ID"].iloc[0])
    reader = library_of(sample_run, user)
    books = [f"{isbn}:{rating}" if rating else isbn
             for isbn, rating in zip(reader["library"], reader["library_ratings"], strict=True)]
    profile = ["--state", reader["state"], "--country", reader["country"], "--top", "5",
               "--tracking-uri", store]
    if reader["Age"] is not None:
        profile += ["--age", str(reader["Age"])]
    result = CliRunner().invoke(recommend, [*profile, *(f"--library={book}" for book in books)])
    assert result.exit_code == 0, result.output
    isbns = [line.split()[1] for line in result.output.splitlines()[2:7]]
    assert isbns == batch[batch["User-ID"] == user]["ISBN"].head(5).tolist()
    assert not set(isbns) & set(reader["library"])
