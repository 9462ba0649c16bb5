"""Tiny hand-made splits with the cleaned_ratings columns, and a fake title encoder."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

EMBEDDING_DIM = 8


class CountingEncoder:
    """Deterministic fake sentence encoder that records every title it encodes.

    Its vectors depend on ``name`` (the encoder name it was loaded as), so two encoder names give
    two different vectors for one title.
    """

    def __init__(self) -> None:
        self.encoded: list[str] = []
        self.name = ""

    def encode(self, sentences: list[str], **kwargs) -> np.ndarray:
        self.encoded.extend(sentences)
        seeds = [zlib.crc32(f"{self.name}|{s}".encode()) for s in sentences]
        return np.stack([np.random.default_rng(seed).normal(size=EMBEDDING_DIM)
                         for seed in seeds]).astype(np.float32)


def make_ratings(rows: list[dict]) -> pd.DataFrame:
    """cleaned_ratings-shaped rows; unspecified fields get ordinary values."""
    defaults = {"User-ID": 1, "ISBN": "0001", "Book-Rating": 8, "Book-Title": "Dune",
                "Book-Author": "Frank Herbert", "Year-Of-Publication": 1965.0, "Publisher": "Ace",
                "Age": 30.0, "city": "paris", "state": "ile de france", "country": "france"}
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame["label"] = (frame["Book-Rating"] > 7).astype("int64")
    return frame.astype({"User-ID": "int64", "Book-Rating": "int64", "Age": "float64",
                         "Year-Of-Publication": "float64", "ISBN": "str", "Book-Title": "str",
                         "state": "str", "country": "str"})


@pytest.fixture
def params() -> dict:
    return {
        "title_encoder": "fake-encoder",
        "title_device": "cpu",
        "pca_variance_share": 0.8,
        "seed": 2021,
        "numeric_fields": ["Age"],
        "categorical_fields": ["Book-Author", "Year-Of-Publication", "Publisher", "state",
                               "country"],
        "user_fields": ["Age", "state", "country"],
        "min_category_count": 1,
    }


@pytest.fixture
def splits() -> dict[str, pd.DataFrame]:
    """Train has 6 titles; valid holds a category, an age and a title seen only there."""
    train = make_ratings([
        {"User-ID": 1, "ISBN": f"b{i}", "Book-Title": f"Train title {i}",
         "Age": 20.0 + 10 * (i % 3),
         "Book-Author": ["Herbert", "Le Guin", "Herbert"][i % 3], "Year-Of-Publication": 1990.0 + i,
         "Publisher": "Ace", "state": ["a", "b"][i % 2], "country": "france"}
        for i in range(6)
    ])
    valid = make_ratings([
        {"User-ID": 2, "ISBN": "v1", "Book-Title": "Valid only title", "Age": 95.0,
         "Book-Author": "Valid-only author", "Year-Of-Publication": 2020.0, "Publisher": "Ace",
         "state": "a", "country": "france"},
        {"User-ID": 2, "ISBN": "b1", "Book-Title": "Train title 1", "Age": 95.0,
         "Book-Author": "Le Guin", "Year-Of-Publication": 1991.0, "Publisher": "Ace",
         "state": "a", "country": "france"},
    ])
    test = make_ratings([
        {"User-ID": 3, "ISBN": "t1", "Book-Title": "Test only title", "Age": np.nan,
         "Book-Author": "Herbert", "Year-Of-Publication": np.nan, "Publisher": "Tor",
         "state": pd.NA, "country": pd.NA},
    ])
    return {"train": train, "valid": valid, "test": test}


@pytest.fixture
def implicit() -> pd.DataFrame:
    """Implicit interactions: train user 1 holds the valid book v1 unrated; user 7, in no train
    split here, holds b0."""
    return pd.DataFrame({"User-ID": [1, 7], "ISBN": ["v1", "b0"],
                         "Book-Author": ["Valid-only author", "Herbert"], "Publisher": ["Ace", "Ace"]})


@pytest.fixture
def encoder(monkeypatch) -> CountingEncoder:
    """The fake encoder, returned by the nodes' encoder loader whatever the name and device."""
    fake = CountingEncoder()

    def load(name: str, device: str) -> CountingEncoder:
        fake.name = name
        return fake

    monkeypatch.setattr("book_recs.pipelines.feature_engineering.nodes.load_title_encoder", load)
    return fake
