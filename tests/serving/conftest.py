"""A tiny catalogue fitted as the feature stage fits it, and a model whose ranking is known."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest
import torch

from book_recs.features import FieldConfig
from book_recs.features.item_statistics import count_item_statistics
from book_recs.features.model_input import (
    FittedFeatures,
    column_scalings,
    fit_scaling,
    fit_vocabularies,
    numeric_columns,
    numeric_features,
)
from book_recs.models.feature_spec import FeatureSpec, field_order
from book_recs.serving.recommender import RequestLimits

YEARS = {"b0": 1990.0, "b1": 1991.0, "b2": 1992.0, "b3": 1993.0, "b4": 1994.0}
PROFILE = {"Age": 34.0, "state": "california", "country": "usa"}
LIMITS = RequestLimits(max_readers_per_request=8, max_isbns_per_reader=8, max_isbns_per_request=16,
                       max_top_n=5)
"""Request limits that only the tests of the limits meet (5 books: top_n is at most 5 anyway)."""


class FixedModel(torch.nn.Module):
    """A stand-in for a trained model: it reads ``input_specs`` (all of ``specs``) and has one
    parameter, which only tells ``predict`` its device."""

    def __init__(self, specs: list[FeatureSpec]) -> None:
        super().__init__()
        self.input_specs = field_order(specs)
        self.device_marker = torch.nn.Parameter(torch.zeros(0), requires_grad=False)


class RecentBooksModel(FixedModel):
    """Logit = the year's vocabulary id (later years, larger ids) + ``age_weight`` x scaled Age:
    it prefers recent books, and a reader's age moves every score alike."""

    def __init__(self, specs: list[FeatureSpec], age_weight: float = 0.0) -> None:
        super().__init__(specs)
        ordered = self.input_specs
        self.year = [s.name for s in ordered if s.kind == "categorical"].index(
            "Year-Of-Publication")
        self.age = [s.name for s in ordered if s.kind == "numeric"].index("Age")
        self.age_weight = age_weight

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return (batch["categorical"][:, self.year].float()
                + self.age_weight * batch["numeric"][:, self.age])


def cleaned_rows() -> pd.DataFrame:
    """cleaned_ratings-like rows: each book rated by five readers aged 20 to 60; b4 liked most,
    b0 least (book i liked by i+1 readers, b4 by all)."""
    rows = [{"User-ID": user, "ISBN": isbn, "Book-Rating": 9 if user <= index else 3,
             "Book-Title": f"Title {isbn}", "Book-Author": f"Author {isbn}",
             "Year-Of-Publication": year, "Publisher": "Ace", "Age": 20.0 + 10 * user,
             "state": ["california", "texas"][user % 2], "country": "usa"}
            for index, (isbn, year) in enumerate(YEARS.items()) for user in range(5)]
    frame = pd.DataFrame(rows)
    frame["label"] = (frame["Book-Rating"] > 7).astype("int64")
    return frame


@pytest.fixture(scope="session")
def books() -> ibis.Table:
    return ibis.memtable(cleaned_rows())


@pytest.fixture(scope="session")
def fitted(books) -> FittedFeatures:
    """The feature stage's tables of the tiny catalogue: vocabularies, ISBN statistics, two title
    components, scaling."""
    config = FieldConfig(title_encoder="fake-encoder", item_statistic_keys=("ISBN",),
                         statistics_folds=2)
    titles = ibis.memtable({"Book-Title": [f"Title {isbn}" for isbn in YEARS],
                            "Book-Title_0": [0.1, 0.2, 0.3, 0.4, 0.5],
                            "Book-Title_1": [0.5, 0.4, 0.3, 0.2, 0.1]})
    folds = ibis.memtable({"User-ID": list(range(5)), "fold": [0, 1, 0, 1, 0]})
    implicit = ibis.memtable({"User-ID": [0], "ISBN": ["b1"]})
    statistics, priors = count_item_statistics(books, implicit, folds, config.item_statistic_keys)
    vocabularies = fit_vocabularies(books, config)
    numbers = numeric_features(books, config, titles, statistics, priors, row_folds=folds)
    scaling = fit_scaling(numbers, numeric_columns(config, titles))
    return FittedFeatures(config, titles, statistics, priors, vocabularies, scaling)


@pytest.fixture(scope="session")
def specs(fitted) -> list[FeatureSpec]:
    vocabularies = fitted.vocabularies.execute()
    sizes = vocabularies.groupby("field")["id"].max()
    return fitted.config.feature_specs(
        list(column_scalings(fitted.scaling)),
        {name: int(sizes.get(name, 0)) + 1 for name in fitted.config.categorical_fields})
