from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from book_recs.baselines import (
    CatBoostConfig,
    feature_columns,
    fit_catboost,
    fit_catboost_classifier,
    fit_catboost_ranker,
    predict_like_probability,
    predict_relevance,
    score_catboost,
    sort_by_group,
)
from book_recs.baselines.catboost_models import _pool
from book_recs.models.feature_spec import FeatureSpec
from tests.baselines.frames import SPECS, catboost_config, catboost_params, make_model_input

TRAIN = make_model_input(n_users=30, books_per_user=8, seed=1)
VALID = make_model_input(n_users=10, books_per_user=8, seed=2, first_user=100)
TEST = make_model_input(n_users=10, books_per_user=8, seed=3, first_user=200)


def _fit_twice_in_an_empty_dir(fit, config, tmp_path_factory):
    """Two fits with the same parameters, run from an empty working directory (returned too)."""
    workdir = tmp_path_factory.mktemp("catboost_cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        fits = [fit(TRAIN, VALID, SPECS, config) for _ in range(2)]
    return fits, workdir


@pytest.fixture(scope="module")
def ranker_fits(tmp_path_factory):
    return _fit_twice_in_an_empty_dir(fit_catboost_ranker, catboost_config(ranker=True),
                                      tmp_path_factory)


@pytest.fixture(scope="module")
def classifier_fits(tmp_path_factory):
    return _fit_twice_in_an_empty_dir(fit_catboost_classifier, catboost_config(ranker=False),
                                      tmp_path_factory)


def _is_contiguous(groups: np.ndarray) -> bool:
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return len(starts) == len(np.unique(groups))


def test_sort_by_group_makes_groups_contiguous_and_keeps_order_within_groups():
    assert not _is_contiguous(TRAIN["User-ID"].to_numpy())  # the fixture interleaves users
    ordered = sort_by_group(TRAIN)
    assert _is_contiguous(ordered["User-ID"].to_numpy())
    for user, rows in ordered.groupby("User-ID"):
        original = TRAIN[TRAIN["User-ID"] == user]
        assert rows["ISBN"].tolist() == original["ISBN"].tolist()


def test_sort_by_group_leaves_rows_already_in_group_order_uncopied():
    ordered = sort_by_group(TRAIN)
    assert sort_by_group(ordered) is ordered


def test_ranking_pool_carries_contiguous_user_groups():
    pool = _pool(sort_by_group(TRAIN), SPECS, "Book-Rating", "User-ID")
    group_hashes = np.asarray(pool.get_group_id_hash())
    assert _is_contiguous(group_hashes)
    assert len(np.unique(group_hashes)) == TRAIN["User-ID"].nunique()


def test_feature_columns_split_kinds_and_skip_sequences():
    specs = [*SPECS, FeatureSpec("genres", "sequence", vocab_size=5)]
    categorical, numeric = feature_columns(specs)
    assert categorical == ["Book-Author", "country"]
    assert numeric == ["Age", "Book-Title_0", "Book-Title_1"]


def test_feature_columns_reject_an_empty_schema():
    with pytest.raises(ValueError, match="no categorical or numeric"):
        feature_columns([FeatureSpec("genres", "sequence", vocab_size=5)])


def test_ranker_learns_a_separable_ordering(ranker_fits):
    model, summary = ranker_fits[0][0]
    relevance = predict_relevance(model, TEST)
    correlation = spearmanr(relevance, TEST["Book-Rating"]).statistic
    assert correlation > 0.5
    assert summary["loss_function"] == "YetiRank"
    assert summary["best_iteration"] < summary["trees"] <= 40


def test_ranker_rerun_gives_identical_scores(ranker_fits):
    (first, _), (second, _) = ranker_fits[0]
    assert np.array_equal(predict_relevance(first, TEST), predict_relevance(second, TEST))


def test_ranker_scores_do_not_depend_on_row_order(ranker_fits):
    model = ranker_fits[0][0][0]
    shuffled = TEST.sample(frac=1.0, random_state=0)
    expected = pd.Series(predict_relevance(model, TEST), index=TEST.index)
    assert np.allclose(predict_relevance(model, shuffled), expected.loc[shuffled.index])


def test_classifier_learns_and_reports_valid_auc(classifier_fits):
    model, summary = classifier_fits[0][0]
    probability = predict_like_probability(model, TEST)
    assert roc_auc_score(TEST["label"], probability) > 0.8
    assert ((probability > 0) & (probability < 1)).all()
    assert summary["eval_metric"] == "AUC"
    assert {"AUC", "Logloss"} <= set(summary["best_valid_metrics"])


def test_classifier_rerun_gives_identical_probabilities(classifier_fits):
    (first, _), (second, _) = classifier_fits[0]
    assert np.array_equal(predict_like_probability(first, TEST),
                          predict_like_probability(second, TEST))


def test_catboost_writes_no_files_in_the_working_directory(ranker_fits, classifier_fits):
    for _, workdir in (ranker_fits, classifier_fits):
        assert list(Path(workdir).iterdir()) == []


def test_fit_and_score_catboost_dispatch_to_the_right_model(ranker_fits, classifier_fits):
    ranker, classifier = ranker_fits[0][0][0], classifier_fits[0][0][0]
    assert np.array_equal(score_catboost(ranker, TEST, SPECS), predict_relevance(ranker, TEST))
    assert np.array_equal(score_catboost(classifier, TEST, SPECS),
                          predict_like_probability(classifier, TEST))
    model, summary = fit_catboost(TRAIN, VALID, SPECS, catboost_config(True, iterations=5),
                                  ranker=True)
    assert summary["loss_function"] == "YetiRank"


def test_score_catboost_rejects_specs_the_model_was_not_trained_on(classifier_fits):
    model = classifier_fits[0][0][0]
    with pytest.raises(ValueError, match="not in the specs"):
        score_catboost(model, TEST, SPECS[:-1])


@pytest.mark.parametrize("ranker", [True, False])
def test_excluded_fields_are_not_read(ranker):
    excluded = SPECS[-1].name
    model, summary = fit_catboost(TRAIN, VALID, SPECS,
                                  catboost_config(ranker, iterations=5, exclude_fields=[excluded]),
                                  ranker=ranker)
    categorical, numeric = feature_columns(SPECS)
    assert summary["features"] == [name for name in categorical + numeric if name != excluded]
    scores = score_catboost(model, TEST, SPECS)
    assert np.array_equal(scores, score_catboost(model, TEST.assign(**{excluded: 0}), SPECS))


def test_config_from_params_keeps_the_values_and_a_tuple_of_excluded_fields():
    config = CatBoostConfig.from_params(catboost_params(True, exclude_fields=["Book-Title_*"]))
    assert config.depth == 3 and config.eval_metric == "NDCG:top=5;type=Base"
    assert config.exclude_fields == ("Book-Title_*",)
    assert CatBoostConfig.from_params(catboost_params(False)).exclude_fields == ()


@pytest.mark.parametrize("params, message", [
    (catboost_params(True, max_depth=4), r"unknown \['max_depth'\], missing \[\]"),
    ({k: v for k, v in catboost_params(True).items() if k != "depth"},
     r"unknown \[\], missing \['depth'\]"),
])
def test_config_rejects_unknown_and_missing_keys_by_name(params, message):
    with pytest.raises(ValueError, match=message):
        CatBoostConfig.from_params(params)


def test_ranker_needs_an_eval_metric_and_the_classifier_refuses_one():
    with pytest.raises(ValueError, match="ranker needs an eval_metric"):
        fit_catboost_ranker(TRAIN, VALID, SPECS, catboost_config(False))
    with pytest.raises(ValueError, match="applies to the ranker only"):
        fit_catboost_classifier(TRAIN, VALID, SPECS, catboost_config(True))


def test_every_preset_pins_catboosts_thread_count():
    """CatBoost's classifier gives other trees with another thread count (1, 3 and 16 threads
    agree with each other, 2, 4 and 8 with each other, on 20k synthetic rows; the ranker did not
    move), so the thread count is a parameter every preset fixes, not the machine's core count
    (docs/results.md, "Reruns that repeat to the bit")."""
    import yaml

    conf = Path(__file__).resolve().parents[2] / "conf"
    base = yaml.safe_load((conf / "base" / "parameters_baselines.yml").read_text())
    assert base["catboost_classifier"]["model"]["thread_count"] == 2
    assert base["catboost_ranker"]["model"]["thread_count"] == 2
    for preset in set(conf.glob("*/parameters_baselines.yml")) - {conf / "base" / "parameters_baselines.yml"}:
        for model in ("catboost_classifier", "catboost_ranker"):
            overrides = (yaml.safe_load(preset.read_text()).get(model) or {}).get("model", {})
            assert "thread_count" not in overrides, f"{preset} changes {model}'s thread count"
