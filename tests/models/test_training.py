"""Training properties: it learns, it is deterministic, it saves and loads, it explains; its
options (user-grouped batches, ranking loss, ensembles, calibration, device, precision)."""

import dataclasses
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score

from book_recs.models.calibration import calibrate
from book_recs.models.data import to_tensors
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.explanations import gate_means, stream_contributions
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.inference import predict, predict_logits
from book_recs.models.training import TrainingConfig, fit, fit_ensemble, seed_everything

from .conftest import SMALL, make_frame


def user_aucs(users, labels, scores):
    """A stand-in for the injected per-user metrics: the plain and row-weighted mean of sklearn's
    per-user AUCs."""
    aucs, sizes = [], []
    for user in np.unique(users):
        mine = users == user
        if len(np.unique(labels[mine])) == 2:
            aucs.append(roc_auc_score(labels[mine], scores[mine]))
            sizes.append(mine.sum())
    return {"gauc": float(np.average(aucs, weights=sizes)), "avgauc": float(np.mean(aucs))}

CONFIG = TrainingConfig(seed=3, learning_rate=1e-2, batch_size=64, epochs=20,
                        early_stop_patience=20, lr_reduce_patience=20, progress_bar=False)


def train(specs, frame, config=CONFIG, user_metrics=None, **model_args):
    seed_everything(config.seed)
    model = FinalMLP(specs, dataclasses.replace(SMALL, **model_args))
    tensors = to_tensors(frame, model.input_specs)
    return fit(model, tensors, tensors, config, user_metrics=user_metrics)


def test_it_overfits_a_tiny_data_set(specs, frame):
    model, history = train(specs, frame)
    assert history["valid_auc"].max() > 0.99
    assert roc_auc_score(frame["label"], predict(model, to_tensors(frame, specs))) > 0.99


def test_the_same_seed_gives_identical_weights_and_predictions(specs, frame):
    config = TrainingConfig(seed=5, batch_size=32, epochs=2, progress_bar=False)
    first, _ = train(specs, frame, config)
    second, _ = train(specs, frame, config)
    for name, weight in first.state_dict().items():
        assert torch.equal(weight, second.state_dict()[name]), name
    tensors = to_tensors(frame, specs)
    assert np.array_equal(predict(first, tensors), predict(second, tensors))
    other, _ = train(specs, frame, TrainingConfig(seed=6, batch_size=32, epochs=2, progress_bar=False))
    assert not torch.equal(first.fusion.w12, other.fusion.w12)


def test_early_stopping_keeps_the_best_epoch(specs):
    train_frame, valid_frame = make_frame(256, seed=1), make_frame(128, seed=2)
    config = TrainingConfig(seed=1, learning_rate=5e-2, batch_size=32, epochs=8,
                            early_stop_patience=2, progress_bar=False)
    seed_everything(config.seed)
    model = FinalMLP(specs, SMALL)
    valid = to_tensors(valid_frame, specs)
    model, history = fit(model, to_tensors(train_frame, specs), valid, config)
    auc = roc_auc_score(valid_frame["label"], predict(model, valid))
    assert auc == pytest.approx(history["valid_auc"].max())
    assert set(history.columns) >= {"epoch", "train_loss", "valid_auc", "valid_logloss", "rows_per_s"}


def test_unknown_training_parameters_are_refused():
    with pytest.raises(ValueError, match="learning_rat"):
        TrainingConfig.from_params({"learning_rat": 1e-3})


def test_a_pickled_model_predicts_the_same_in_a_fresh_process(specs, frame, tmp_path):
    model, _ = train(specs, frame, TrainingConfig(seed=2, epochs=1, progress_bar=False))
    expected = predict(model, to_tensors(frame, specs))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    frame.to_parquet(tmp_path / "frame.parquet")
    (tmp_path / "specs.pkl").write_bytes(pickle.dumps(specs))
    script = f"""
import pickle, numpy as np, pandas as pd
from book_recs.models.data import to_tensors
from book_recs.models.inference import predict
model = pickle.load(open({str(tmp_path / 'model.pkl')!r}, 'rb'))
specs = pickle.load(open({str(tmp_path / 'specs.pkl')!r}, 'rb'))
frame = pd.read_parquet({str(tmp_path / 'frame.parquet')!r})
np.save({str(tmp_path / 'out.npy')!r}, predict(model, to_tensors(frame, specs)))
print(model.config.num_heads, len(model.specs))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["2", str(len(specs))]
    assert np.array_equal(np.load(tmp_path / "out.npy"), expected)


def test_explanations_are_finite_shares_and_keep_no_state(specs, frame):
    model, _ = train(specs, frame, TrainingConfig(seed=2, epochs=1, progress_bar=False))
    tensors = to_tensors(frame, specs)
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    contributions = stream_contributions(model, tensors, batch_size=50)
    again = stream_contributions(model, tensors, batch_size=50)
    assert list(contributions["stream"]) == ["user", "item"]
    assert contributions["share"].sum() == pytest.approx(1.0)
    assert np.isfinite(contributions["contribution"]).all()
    assert contributions.equals(again)
    gates = gate_means(model, tensors)
    assert len(gates) == 2 * len(specs)
    assert gates["mean_gate"].between(0, 2).all()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state_before.items())
    dual, _ = train(specs, frame, TrainingConfig(seed=2, epochs=1, progress_bar=False),
                    use_gating=False, fusion="additive")
    assert gate_means(dual, tensors).empty


def test_calibration_lowers_valid_logloss_and_keeps_the_ranking(specs):
    train_frame, valid_frame = make_frame(256, seed=1), make_frame(256, seed=2)
    config = TrainingConfig(seed=1, learning_rate=5e-2, batch_size=32, epochs=4, progress_bar=False)
    seed_everything(config.seed)
    model = FinalMLP(specs, SMALL)
    valid = to_tensors(valid_frame, specs)
    model, _ = fit(model, to_tensors(train_frame, specs), valid, config)
    before = predict(model, valid)
    model.calibration.scale.fill_(3.0)  # make it overconfident on purpose
    overconfident = predict(model, valid)
    calibrate(model, valid)
    after = predict(model, valid)
    labels = valid_frame["label"].to_numpy()
    assert log_loss(labels, after) < log_loss(labels, overconfident)
    assert log_loss(labels, after) <= log_loss(labels, before) + 1e-9  # the identity was a candidate
    assert roc_auc_score(labels, after) == pytest.approx(roc_auc_score(labels, before))
    assert model.calibration.scale > 0


def test_calibrate_option_fits_the_scaling_and_it_is_saved(specs, frame):
    config = TrainingConfig(seed=2, batch_size=64, epochs=2, progress_bar=False, calibrate=True)
    model, _ = train(specs, frame, config)
    assert (model.calibration.scale.item(), model.calibration.bias.item()) != (1.0, 0.0)
    assert {"calibration.scale", "calibration.bias"} <= set(model.state_dict())


@pytest.mark.parametrize("option", [{"ranking_loss_weight": 1.0}, {"user_grouped_batches": True}])
def test_user_grouped_training_learns_and_needs_users_and_ratings(specs, frame, option):
    config = TrainingConfig(**{**CONFIG.__dict__, **option})
    model, history = train(specs, frame, config)
    assert history["valid_auc"].max() > 0.99
    tensors = to_tensors(frame.drop(columns="User-ID"), specs)
    with pytest.raises(ValueError, match="User-ID"):
        fit(model, tensors, tensors, config)


def test_history_logs_the_injected_per_user_metrics_when_valid_has_users(specs, frame):
    config = TrainingConfig(seed=3, batch_size=64, epochs=1, progress_bar=False)
    model, history = train(specs, frame, config, user_metrics=user_aucs)
    expected = user_aucs(frame["User-ID"].to_numpy(), frame["label"].to_numpy(),
                         predict(model, to_tensors(frame, specs)))
    assert history["valid_gauc"].iloc[0] == pytest.approx(expected["gauc"])
    assert history["valid_avgauc"].iloc[0] == pytest.approx(expected["avgauc"])
    _, without = train(specs, frame, config)
    assert "valid_gauc" not in without


def fit_small_ensemble(specs, frame, config):
    tensors = to_tensors(frame, specs)
    return fit_ensemble(specs, SMALL, tensors, tensors, config), tensors


def test_an_ensemble_of_one_is_the_single_model(specs, frame):
    config = TrainingConfig(seed=2, batch_size=64, epochs=2, progress_bar=False, calibrate=True)
    single, history = train(specs, frame, config)
    (ensemble_of_one, ensemble_history), tensors = fit_small_ensemble(specs, frame, config)
    assert isinstance(ensemble_of_one, FinalMLP)
    assert np.array_equal(predict(ensemble_of_one, tensors), predict(single, tensors))
    timings = ["seconds", "rows_per_s"]
    assert ensemble_history.drop(columns=["member", "seed", "ranking_loss_weight", *timings]).equals(
        history.drop(columns=timings))


def test_an_ensemble_averages_the_logits_of_members_with_consecutive_seeds(specs, frame):
    config = TrainingConfig(seed=2, batch_size=64, epochs=2, progress_bar=False, ensemble_size=3)
    (ensemble, history), tensors = fit_small_ensemble(specs, frame, config)
    assert isinstance(ensemble, SeedEnsemble) and len(ensemble.members) == 3
    assert history.groupby("member")["seed"].first().tolist() == [2, 3, 4]
    member_logits = [predict_logits(member, tensors) for member in ensemble.members]
    assert not torch.equal(member_logits[0], member_logits[1])
    assert torch.allclose(predict_logits(ensemble, tensors), torch.stack(member_logits).mean(0))
    # Explanations average over members: finite shares summing to one, gates inside (0, 2).
    assert stream_contributions(ensemble, tensors)["share"].sum() == pytest.approx(1.0)
    assert gate_means(ensemble, tensors)["mean_gate"].between(0, 2).all()


def test_a_calibrated_ensemble_scales_its_mean_logit_once(specs, frame):
    config = TrainingConfig(seed=2, batch_size=64, epochs=2, progress_bar=False, ensemble_size=2,
                            calibrate=True)
    (ensemble, _), tensors = fit_small_ensemble(specs, frame, config)
    assert all(member.calibration.scale.item() == 1.0 for member in ensemble.members)
    assert ensemble.calibration.scale.item() != 1.0


def test_members_can_each_have_their_own_ranking_loss_weight(specs, frame):
    config = TrainingConfig(seed=2, batch_size=64, epochs=2, progress_bar=False, ensemble_size=2,
                            member_ranking_loss_weights=[0, 1])
    (ensemble, history), tensors = fit_small_ensemble(specs, frame, config)
    assert history.groupby("member")["ranking_loss_weight"].first().tolist() == [0.0, 1.0]
    # Each member is the single model of its seed and weight.
    for member, (seed, weight) in zip(ensemble.members, [(2, 0.0), (3, 1.0)]):
        single, _ = train(specs, frame, TrainingConfig(seed=seed, batch_size=64, epochs=2,
                                                       progress_bar=False, ranking_loss_weight=weight))
        assert torch.equal(predict_logits(member, tensors), predict_logits(single, tensors))


def test_member_ranking_loss_weights_need_one_weight_per_member():
    with pytest.raises(ValueError, match="one per member"):
        TrainingConfig(ensemble_size=3, member_ranking_loss_weights=[0.0, 1.0])


@pytest.mark.parametrize("option", [{"ensemble_size": 2},
                                    {"ensemble_size": 1, "member_ranking_loss_weights": [1.0]}])
def test_fit_refuses_ensemble_options(specs, frame, option):
    tensors = to_tensors(frame, specs)
    with pytest.raises(ValueError, match="fit_ensemble"):
        fit(FinalMLP(specs, SMALL), tensors, tensors, TrainingConfig(**option))


@pytest.mark.parametrize("option, message", [
    ({"precision": "fp16"}, "precision"), ({"data_loading": "disk"}, "data_loading"),
    ({"processes": 3}, "equal local batches"), ({"processes": 2, "data_loading": "stream"}, "one process")])
def test_training_config_refuses_what_it_cannot_do(option, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**option)


def test_bf16_autocast_trains_and_scores_in_bfloat16(specs, frame):
    config = TrainingConfig(seed=2, learning_rate=1e-2, batch_size=64, epochs=3, progress_bar=False,
                            device="cpu", precision="bf16")
    model, history = train(specs, frame, config)
    tensors = to_tensors(frame, specs)
    in_bf16, in_fp32 = predict(model, tensors, precision="bf16"), predict(model, tensors)
    assert not np.array_equal(in_bf16, in_fp32)  # the forward really ran in bfloat16
    assert np.abs(in_bf16 - in_fp32).max() < 0.02
    assert history["valid_auc"].max() > 0.7
    assert next(model.parameters()).dtype == torch.float32  # the weights stay float32
