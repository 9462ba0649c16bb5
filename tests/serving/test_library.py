"""The library recommender on the tiny catalogue: a reader's own books change the answer, are
never returned, are checked like any request field, and an empty library falls back to the
cold-start list, saying so. Its ``rank`` (the batch evaluation's path) gives the served answer."""

from __future__ import annotations

import gc
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from book_recs.features.library import PairFeatures
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.training import seed_everything
from book_recs.serving.candidates import CandidateConfig, select_candidates
from book_recs.serving.library import COLD_START_NOTE, LibraryRecommender
from book_recs.serving.recommender import ANSWER_COLUMNS, InvalidRequest, Recommender
from book_recs.topn import EASE, LibrarySplit, Popularity, library_row
from book_recs.topn.candidates import CandidateStage
from tests.serving.conftest import LIMITS, PROFILE, RecentBooksModel

# Train readers 100-119 hold b0 and b1 (and like b1), readers 120-139 hold b3 and b4: who holds
# b0 is likelier to hold b1, who holds b3 to hold b4. Everyone holds b2.
TRAIN_ROWS = pd.DataFrame(
    [{"User-ID": user, "ISBN": isbn, "Book-Rating": 9 if isbn in ("b1", "b4") else 0,
      "label": int(isbn in ("b1", "b4")), "split": "train", "part": "library"}
     for user in range(100, 140)
     for isbn in (("b0", "b1", "b2") if user < 120 else ("b2", "b3", "b4"))])


@pytest.fixture(scope="module")
def library_recommender(fitted, books, specs) -> LibraryRecommender:
    cold = Recommender.build(fitted, books, select_candidates(books, CandidateConfig("most_liked", 5)),
                             RecentBooksModel(specs), 3, limits=LIMITS)
    readers = LibrarySplit.from_rows(TRAIN_ROWS, "split", "part", "library")
    stage = CandidateStage("ease", {"ease": EASE(l2=1.0, min_count=1).fit(readers.train.matrix),
                                    "popularity": Popularity().fit(readers.train.matrix)}, k=2)
    catalogue_books = books.select("ISBN", "Book-Title", "Book-Author", "Year-Of-Publication",
                                   "Publisher").distinct()
    features = PairFeatures.build(fitted, readers.catalogue, readers.train.matrix,
                                  catalogue_books, min_book_count=1, max_library=4,
                                  candidate_names=stage.feature_names)
    seed_everything(0)
    model = FinalMLP(features.specs, FinalMLPConfig(
        embedding_dim=4, mlp1_hidden_units=(8,), mlp2_hidden_units=(8,), fs_hidden_units=(8,),
        num_heads=2)).eval()
    shown = catalogue_books.execute().set_index("ISBN").loc[readers.catalogue.isbns,
                                                            ["Book-Title", "Book-Author"]]
    return LibraryRecommender(cold, stage, readers.catalogue, features, model,
                              shown.reset_index(drop=True), default_top_n=2)


def ask(recommender: LibraryRecommender, *readers: dict) -> pd.DataFrame:
    return recommender.recommend(pd.DataFrame([{**PROFILE, **reader} for reader in readers]))


def test_two_readers_with_different_libraries_get_their_own_lists(library_recommender):
    catalogue = library_recommender.catalogue
    for library, expected in ((["b0"], ["b1", "b2"]), (["b3"], ["b4", "b2"])):
        columns, _ = library_recommender.stage.candidates(library_row(catalogue, library)[0])
        # The candidate stage reads the library: b1 goes with b0, b4 with b3.
        assert catalogue.isbns[columns[0]].tolist() == expected
    answer = ask(library_recommender, {"library": ["b0"]}, {"library": ["b3"]})
    assert list(answer.columns) == ANSWER_COLUMNS
    first, second = (answer[answer["reader"] == reader] for reader in (0, 1))
    assert set(first["ISBN"]) == {"b1", "b2"} and set(second["ISBN"]) == {"b2", "b4"}
    assert first["rank"].tolist() == [1, 2] and first["score"].is_monotonic_decreasing
    assert ((answer["score"] > 0) & (answer["score"] < 1)).all()
    assert answer["note"].eq("").all()


def test_a_library_book_is_never_returned(library_recommender):
    for library in (["b0"], ["b0", "b1"], ["b2", "b3", "b4"], ["b0", "b1", "b2", "b3"]):
        answer = ask(library_recommender, {"library": library, "library_ratings": [9] * len(library)})
        assert not answer["ISBN"].isin(library).any(), library
    answer = ask(library_recommender, {"library": ["b0"], "exclude_isbns": ["b1"]})
    assert "b1" not in answer["ISBN"].tolist() and "b0" not in answer["ISBN"].tolist()


def test_an_empty_or_unknown_library_falls_back_to_the_cold_start_list_and_says_so(
        library_recommender):
    cold = library_recommender.cold.recommend(pd.DataFrame([PROFILE]))
    for reader in ({"library": []}, {"library": ["not-a-book"]}):
        answer = ask(library_recommender, reader)
        assert answer["ISBN"].tolist() == cold["ISBN"].tolist()
        assert answer["note"].iloc[0].startswith(COLD_START_NOTE)
    for reader in ({}, {"library": None}):  # no library given: today's answer, no note
        pd.testing.assert_frame_equal(ask(library_recommender, reader), cold)
    assert "library ISBNs not in the catalogue: 1 ('not-a-book')" in ask(
        library_recommender, {"library": ["not-a-book"]})["note"].iloc[0]
    mixed = ask(library_recommender, {"library": ["b0", "zzz"]})
    assert "library ISBNs not in the catalogue: 1 ('zzz')" in mixed["note"].iloc[0]
    assert not mixed["note"].iloc[0].startswith(COLD_START_NOTE)


@pytest.mark.parametrize(("reader", "field"), [
    ({"library": "b0"}, "library"),
    ({"library": ["b0", 7]}, "library"),
    ({"library": ["b0"] * 9}, "library"),                              # max_isbns_per_reader 8
    ({"library": ["b0", "b1"], "library_ratings": [9]}, "library_ratings"),
    ({"library": ["b0"], "library_ratings": [11]}, "library_ratings"),
    ({"library": ["b0"], "library_ratings": "9"}, "library_ratings"),
    ({"library": ["b0"], "top_n": 3}, "top_n"),                         # above K = 2
])
def test_a_malformed_library_is_refused_naming_the_field(library_recommender, reader, field):
    with pytest.raises(InvalidRequest) as refused:
        ask(library_recommender, reader)
    assert refused.value.field == field


def test_a_readers_answer_does_not_depend_on_the_readers_asking_with_it(library_recommender):
    reader = {"library": ["b0", "b2"], "library_ratings": [0, 8]}
    alone = ask(library_recommender, reader)
    crowd = library_recommender.recommend(  # past one batch of ranked readers
        pd.DataFrame([{**PROFILE, "library": ["b3"]}] * 70 + [{**PROFILE, **reader}]),
        check_limits=False)
    mine = crowd[crowd["reader"] == 70].assign(reader=0).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, alone)


def test_rank_is_the_served_answer_and_the_recommender_pickles(library_recommender):
    answer = ask(library_recommender, {"library": ["b0", "b2"], "library_ratings": [0, 8]})
    row, _ = library_row(library_recommender.catalogue, ["b0", "b2"], [0, 8])
    users = library_recommender.cold.profile_features(pd.DataFrame([PROFILE]))
    columns, probabilities = library_recommender.rank(users, row, 2)
    assert library_recommender.catalogue.isbns[columns[0]].tolist() == answer["ISBN"].tolist()
    np.testing.assert_array_equal(probabilities[0], answer["score"].to_numpy())
    again = pickle.loads(pickle.dumps(library_recommender))
    pd.testing.assert_frame_equal(
        again.recommend(pd.DataFrame([{**PROFILE, "library": ["b0", "b2"],
                                       "library_ratings": [0, 8]}])), answer)
    assert isinstance(again.model, torch.nn.Module)


def test_a_readers_side_computed_once_gives_the_logits_of_its_pair_rows(library_recommender):
    features, stage = library_recommender.features, library_recommender.stage
    seed_everything(1)
    model = FinalMLP(features.specs, FinalMLPConfig(
        embedding_dim=4, mlp1_hidden_units=(8,), mlp2_hidden_units=(8,), fs_hidden_units=(8,),
        num_heads=2)).eval()
    with torch.no_grad():  # weights far from their tiny initial values: every field counts
        for parameter in model.parameters():
            parameter.normal_()
    row, _ = library_row(library_recommender.catalogue, ["b0", "b2"], [0, 8])
    users = library_recommender.cold.profile_features(pd.DataFrame([PROFILE]))
    columns, described = stage.candidates(row)
    with torch.inference_mode():
        rows = model(features.tensors(users, row, np.zeros(2, dtype=np.int64), columns[0],
                                      described[0]))
        once = model.pair_logits(features.reader_tensors(users, row),
                                 model.item_side(features.candidate_tensors(columns[0],
                                                                            described[0])))
    assert rows.abs().max() > 0.1
    torch.testing.assert_close(once[0], rows, rtol=1e-5, atol=1e-5)


def test_a_shortlist_ranks_the_first_members_best_by_the_whole_ensemble(library_recommender):
    features, stage, shown = (library_recommender.features, library_recommender.stage.with_k(4),
                              library_recommender.books)
    seed_everything(5)
    members = [FinalMLP(features.specs, FinalMLPConfig(
        embedding_dim=4, mlp1_hidden_units=(8,), mlp2_hidden_units=(8,), fs_hidden_units=(8,),
        num_heads=2)) for _ in range(2)]
    ensemble = SeedEnsemble(members).eval()
    with torch.no_grad():  # members far apart: the first one's order is not the ensemble's
        for parameter in ensemble.parameters():
            parameter.normal_()

    def ranked(model, shortlist=None, top_n=2):
        recommender = LibraryRecommender(library_recommender.cold, stage,
                                         library_recommender.catalogue, features, model, shown,
                                         default_top_n=2, shortlist=shortlist)
        row, _ = library_row(recommender.catalogue, ["b2"], [0])  # 4 candidates: b0 b1 b3 b4
        users = recommender.cold.profile_features(pd.DataFrame([PROFILE]))
        columns, probabilities = recommender.rank(users, row, top_n)
        return columns[0].tolist(), probabilities[0]

    first_best, _ = ranked(members[0].eval())
    everyone, everyones_probabilities = ranked(ensemble, top_n=4)
    shortlisted, probabilities = ranked(ensemble, shortlist=1)  # widened to top_n = 2
    assert sorted(shortlisted) == sorted(first_best) and sorted(everyone[:2]) != sorted(first_best)
    expected = dict(zip(everyone, everyones_probabilities, strict=True))
    np.testing.assert_allclose(probabilities, [expected[column] for column in shortlisted],
                               rtol=1e-6)
    assert probabilities[0] >= probabilities[1]
    with pytest.raises(ValueError, match="a shortlist needs a SeedEnsemble"):
        ranked(members[0], shortlist=2)


def test_an_unpickled_recommender_is_left_out_of_garbage_collections(library_recommender):
    gc.unfreeze()
    try:
        again = pickle.loads(pickle.dumps(library_recommender))
        assert gc.get_freeze_count() > 0
        assert not any(tracked is again.books for tracked in gc.get_objects())
    finally:
        gc.unfreeze()
