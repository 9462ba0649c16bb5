import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from book_recs.topn import HELD, LIKED, Catalogue, Popularity, ReaderMatrix, choose_parameters

# Books a, b, c: a is held by the most train readers, b liked by the most.
TRAIN = sparse.csr_matrix(np.array(
    [[HELD, LIKED, 0], [HELD, LIKED, 0], [HELD, 0, 0], [HELD, 0, HELD], [0, LIKED, 0]],
    dtype=np.float32))
CATALOGUE = Catalogue(["a", "b", "c"])
# Three valid readers holding c; two of them liked b among their held-out books.
VALID = ReaderMatrix(sparse.csr_matrix(np.array([[0, 0, HELD]] * 3, dtype=np.float32)),
                     np.array([21, 22, 23]), 0)
TARGETS = pd.DataFrame({"User-ID": [21, 22], "ISBN": ["b", "b"]})


def test_the_grid_chooser_picks_the_point_valid_makes_best_and_tables_every_point():
    search = choose_parameters(Popularity, {"count": ["held", "liked"]}, TRAIN, VALID, TARGETS,
                               catalogue=CATALOGUE, k=1)
    assert search.best_parameters == {"count": "liked"}
    assert search.best_model.count == "liked" and search.best_model.popularity is not None
    table = search.table.set_index("count")
    assert table["ndcg@1"].to_dict() == {"held": 0.0, "liked": 1.0}
    assert table["recall@1"].to_dict() == {"held": 0.0, "liked": 1.0}
    assert (table["fit_seconds"] >= 0).all()


class RecordingPopularity(Popularity):
    """Popularity that records what it is fitted on and what it scores."""

    fitted: list = []
    scored: list = []

    def fit(self, interactions):
        self.fitted.append((self.count, interactions))
        return super().fit(interactions)

    def scores(self, libraries):
        self.scored.append(libraries.toarray())
        return super().scores(libraries)


def test_the_grid_chooser_fits_each_distinct_point_once_on_train_and_scores_valid_readers():
    RecordingPopularity.fitted, RecordingPopularity.scored = [], []
    choose_parameters(RecordingPopularity, {"count": ["held", "liked", "held"]}, TRAIN, VALID,
                      TARGETS, catalogue=CATALOGUE, k=1, batch_size=2)
    assert [count for count, _ in RecordingPopularity.fitted] == ["held", "liked"]
    assert all(interactions is TRAIN for _, interactions in RecordingPopularity.fitted)
    # Each fit scores the valid readers with a target (21, 22), and nothing else.
    scored = np.concatenate(RecordingPopularity.scored)
    np.testing.assert_array_equal(scored, np.concatenate([VALID.matrix[:2].toarray()] * 2))


def test_the_grid_chooser_needs_valid_targets():
    with pytest.raises(ValueError, match="no valid targets"):
        choose_parameters(Popularity, {"count": ["held"]}, TRAIN, VALID, TARGETS.iloc[:0],
                          catalogue=CATALOGUE)
