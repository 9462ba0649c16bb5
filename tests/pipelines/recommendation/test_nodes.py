"""rank_candidates on a tiny catalogue with a model whose ranking is known in advance."""

from __future__ import annotations

import logging

import ibis
import numpy as np
import pandas as pd
import pytest
import torch

from book_recs.features import encoder_key
from book_recs.models.feature_spec import field_order
from book_recs.pipelines.data_split.nodes import SPLIT_COLUMN
from book_recs.pipelines.feature_engineering.nodes import (
    assign_statistics_folds,
    build_feature_specs,
    count_item_statistics,
    fit_scaling,
    fit_title_pca,
    fit_vocabularies,
    project_titles,
)
from book_recs.pipelines.recommendation.nodes import rank_candidates

ENCODER = "fake-encoder"
USER_FIELDS = ["Age", "state", "country"]
YEARS = {"b0": 1990.0, "b1": 1991.0, "b2": 1992.0, "b3": 1993.0, "b4": 1994.0}
PROFILE = {"Age": 34, "state": "california", "country": "usa"}
FEATURE_PARAMS = {
    "title_encoder": ENCODER, "title_device": "cpu", "pca_variance_share": 0.8, "seed": 0, "numeric_fields": ["Age"],
    "categorical_fields": ["Book-Author", "Year-Of-Publication", "Publisher", "state", "country"],
    "user_fields": USER_FIELDS, "min_category_count": 1, "item_statistic_keys": [],
    "statistics_folds": 2,
}


class RecentBooksModel(torch.nn.Module):
    """Logit = the year's vocabulary id (later years, larger ids) + ``age_weight`` x scaled Age:
    it prefers recent books, and the profile's age moves every score alike."""

    def __init__(self, specs, age_weight: float = 0.0) -> None:
        super().__init__()
        self.input_specs = specs  # what predict_frame reads, as FinalMLP has it
        categorical = [s.name for s in field_order(specs) if s.kind == "categorical"]
        self.year = categorical.index("Year-Of-Publication")
        self.age_weight = torch.nn.Parameter(torch.tensor(age_weight), requires_grad=False)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        age = batch["numeric"][:, 0]  # Age is the first numeric field
        return batch["categorical"][:, self.year].float() + self.age_weight * age


@pytest.fixture(scope="module")
def books() -> pd.DataFrame:
    """cleaned_ratings-like rows: each book rated by readers aged 20 to 60."""
    rows = [{"User-ID": user, "ISBN": isbn, "Book-Rating": 8, "label": 1,
             "Book-Title": f"Title {isbn}", "Book-Author": f"Author {isbn}",
             "Year-Of-Publication": year, "Publisher": "Ace", "Age": 20.0 + 10 * user,
             "state": "california", "country": "usa"}
            for isbn, year in YEARS.items() for user in range(5)]
    return pd.DataFrame(rows).assign(row_order=np.arange(len(rows), dtype=np.int64))


@pytest.fixture(scope="module")
def fitted(books) -> dict:
    """The feature stage's fitted tables, all the rows as train (the nodes, run once each), and
    the feature specs."""
    titles = pd.DataFrame({"Book-Title": sorted(books["Book-Title"].unique())})
    vectors = np.random.default_rng(0).normal(size=(len(titles), 4)).astype(np.float32)
    cache = pd.DataFrame({"encoder": encoder_key(ENCODER, "cpu"), "title": titles["Book-Title"],
                          "embedding": list(vectors)})
    pca = fit_title_pca(titles, cache, FEATURE_PARAMS)
    components = project_titles(titles, cache, pca, FEATURE_PARAMS)
    user_splits = books[["User-ID"]].drop_duplicates().assign(**{SPLIT_COLUMN: "train"})
    folds = ibis.memtable(assign_statistics_folds(user_splits, FEATURE_PARAMS))
    train = ibis.memtable(books)
    con = ibis.duckdb.connect()
    statistics, priors = (con.to_pyarrow(table) for table in count_item_statistics(
        train, train.select("User-ID", "ISBN").limit(0), folds, FEATURE_PARAMS))
    vocabularies = con.to_pyarrow(fit_vocabularies(train, FEATURE_PARAMS))
    scaling = con.execute(fit_scaling(train, ibis.memtable(components), ibis.memtable(statistics),
                                      ibis.memtable(priors), folds, FEATURE_PARAMS))
    return {"title_components": ibis.memtable(components),
            "statistics": ibis.memtable(statistics), "priors": ibis.memtable(priors),
            "vocabularies": ibis.memtable(vocabularies), "scaling": scaling,
            "feature_params": FEATURE_PARAMS,
            "specs": build_feature_specs(vocabularies.to_pandas(), scaling, FEATURE_PARAMS)}


def _rank(books, fitted, candidates, *, top_n=10, profile=PROFILE, model=None):
    tables = {name: table for name, table in fitted.items() if name != "specs"}
    return rank_candidates(profile, candidates, ibis.memtable(books), **tables,
                           model=model or RecentBooksModel(fitted["specs"]), top_n=top_n)


def test_candidates_come_best_first_by_the_models_score_cut_at_top_n(books, fitted):
    ranked = _rank(books, fitted, ["b1", "b3", "b0", "b4"], top_n=3)
    assert list(ranked.columns) == ["rank", "ISBN", "Book-Title", "Book-Author", "score"]
    assert ranked["ISBN"].tolist() == ["b4", "b3", "b1"]
    assert ranked["rank"].tolist() == [1, 2, 3]
    # Year ids 1..5 for 1990..1994: the model's probability is sigmoid(id).
    np.testing.assert_allclose(ranked["score"], 1 / (1 + np.exp(-np.array([5.0, 4.0, 2.0]))),
                               rtol=1e-6)
    assert ranked["Book-Title"].tolist() == ["Title b4", "Title b3", "Title b1"]


def test_unknown_and_repeated_isbns_are_skipped_with_a_warning(books, fitted, caplog):
    with caplog.at_level(logging.WARNING):
        ranked = _rank(books, fitted, ["b2", "unknown", "b2", 40])
    assert ranked["ISBN"].tolist() == ["b2"]
    assert "skipping 2 unknown ISBNs" in caplog.text


def test_ties_keep_isbn_order(books, fitted):
    class Indifferent(RecentBooksModel):
        def forward(self, batch):
            return torch.zeros(len(batch["numeric"]))

    ranked = _rank(books, fitted, ["b3", "b0", "b4", "b1"], model=Indifferent(fitted["specs"]))
    assert ranked["ISBN"].tolist() == ["b0", "b1", "b3", "b4"]
    assert ranked["score"].eq(0.5).all()


def test_the_profile_reaches_the_model_and_a_missing_age_is_the_train_median(books, fitted):
    model = RecentBooksModel(fitted["specs"], age_weight=1.0)
    candidates = list(YEARS)
    older = _rank(books, fitted, candidates, profile={**PROFILE, "Age": 60}, model=model)
    younger = _rank(books, fitted, candidates, profile={**PROFILE, "Age": 20}, model=model)
    assert (older["score"].to_numpy() > younger["score"].to_numpy()).all()
    median_age = books["Age"].median()
    unknown = _rank(books, fitted, candidates, profile={**PROFILE, "Age": None}, model=model)
    at_median = _rank(books, fitted, candidates, profile={**PROFILE, "Age": median_age},
                      model=model)
    pd.testing.assert_frame_equal(unknown, at_median)


def test_bad_profiles_and_candidate_lists_are_refused(books, fitted):
    with pytest.raises(ValueError, match="profile fields must be among"):
        _rank(books, fitted, ["b0"], profile={**PROFILE, "city": "paris"})
    with pytest.raises(ValueError, match="none of the candidate ISBNs"):
        _rank(books, fitted, ["unknown"])
