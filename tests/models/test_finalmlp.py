"""FinalMLP as a whole: config, shapes, DualMLP flags, gate contexts, batch-order invariance, unseen
ids, device-free pickles."""

import dataclasses
import pickle

import pytest
import torch

from book_recs.models.data import batches, to_tensors
from book_recs.models.ensemble import SeedEnsemble
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.training import seed_everything

from .conftest import SMALL


def small(**changes) -> FinalMLPConfig:
    return dataclasses.replace(SMALL, **changes)


def test_forward_gives_one_logit_per_row(specs, frame):
    model = FinalMLP(specs, SMALL)
    assert model(to_tensors(frame, model.input_specs)).shape == (len(frame),)


def test_config_refuses_unknown_keys_and_values():
    with pytest.raises(ValueError, match="mlp3_hidden_units"):
        FinalMLPConfig.from_params({"mlp3_hidden_units": [8]})
    with pytest.raises(ValueError, match="fusion"):
        FinalMLPConfig(fusion="concat")


def test_default_gate_contexts_come_from_the_specs(specs):
    model = FinalMLP(specs, SMALL)
    user_gate, item_gate = model.gates
    assert user_gate.context_embedding.field_names == ["Age", "state"]
    assert item_gate.context_embedding.field_names == ["Book-Title_0", "Book-Title_1", "Book-Author"]


def test_each_gate_embeds_its_context_with_its_own_regularised_tables(specs, frame):
    """FuxiCTR's FeatureSelection: fs*_ctx_emb tables apart from the model's; the embedding L2
    covers them; changing them moves the gate and nothing else."""
    model = FinalMLP(specs, SMALL).eval()
    user_gate = model.gates[0]
    assert user_gate.context_embedding.num_fields == 2  # Age, state
    own = list(user_gate.context_embedding.parameters())
    assert not {id(p) for p in own} & {id(p) for p in model.embedding.parameters()}
    before = model.embedding_l2()
    with torch.no_grad():
        user_gate.context_embedding.categorical[0].weight.add_(1.0)
    assert model.embedding_l2() > before + 1.0
    tensors = to_tensors(frame, model.input_specs)
    _, _, gate1, _ = model.streams(tensors)
    with torch.no_grad():
        model.embedding.categorical[0].weight.add_(1.0)  # the model's own state table
        assert torch.equal(model.streams(tensors)[2], gate1)


def test_dualmlp_is_the_same_class_with_gating_off_and_additive_fusion(specs, frame):
    model = FinalMLP(specs, small(use_gating=False, fusion="additive"))
    assert model.gates is None and model.fusion.w12 is None
    assert not any("gate" in name for name, _ in model.named_parameters())
    tensors = to_tensors(frame, model.input_specs)
    o1, o2, gate1, gate2 = model.streams(tensors)
    assert gate1 is None and gate2 is None
    model.eval()
    assert torch.allclose(model(tensors), model.fusion.w1(o1).squeeze(-1) + model.fusion.w2(o2).squeeze(-1))


def test_forward_is_invariant_to_batch_order_in_eval_mode(specs, frame):
    model = FinalMLP(specs, small(mlp1_batch_norm=True, mlp1_dropout=0.3)).eval()
    tensors = to_tensors(frame, model.input_specs)
    permutation = torch.randperm(len(frame), generator=torch.Generator().manual_seed(0))
    shuffled = {k: v[permutation] for k, v in tensors.items()}
    with torch.no_grad():
        assert torch.allclose(model(tensors)[permutation], model(shuffled), atol=1e-6)
        in_batches = torch.cat([model(b) for b in batches(tensors, 37)])
    assert torch.allclose(in_batches, model(tensors).detach(), atol=1e-6)


def test_out_of_vocabulary_ids_and_zero_numbers_do_not_break_the_forward(specs, frame):
    model = FinalMLP(specs, SMALL).eval()
    tensors = to_tensors(frame, model.input_specs)
    tensors["categorical"].zero_()
    tensors["numeric"].zero_()
    assert torch.isfinite(model(tensors)).all()


def test_missing_feature_columns_are_named(specs, frame):
    with pytest.raises(KeyError, match="Book-Author"):
        to_tensors(frame.drop(columns="Book-Author"), specs)


def test_excluded_fields_are_not_read(specs, frame):
    seed_everything(0)
    model = FinalMLP(specs, small(exclude_fields=["Book-Title_*"])).eval()
    assert model.field_names == ["Age", "state", "Book-Author"]
    assert [s.name for s in model.input_specs] == model.field_names
    tensors = to_tensors(frame.drop(columns=["Book-Title_0", "Book-Title_1"]), model.input_specs)
    assert tensors["numeric"].shape == (len(frame), 1)
    assert model(tensors).shape == (len(frame),)
    # A gate context naming excluded fields keeps only the fields the model reads.
    gated = FinalMLP(specs, small(fs2_context=["Book-Author", "Book-Title_*"], exclude_fields=["Book-Title_*"]))
    assert gated.gates[1].context_embedding.field_names == ["Book-Author"]
    with pytest.raises(ValueError, match="match no field"):
        FinalMLP(specs, small(exclude_fields=["Book-Titel_*"]))


def test_a_pickled_model_holds_cpu_weights_whatever_its_device(specs, frame, monkeypatch):
    """A model on a GPU must load on a machine without one. No GPU here: the meta device stands
    in for it, and a device-to-host copy is faked by a CPU tensor of the same shape."""
    model = FinalMLP(specs, SMALL)
    shapes = {name: tensor.shape for name, tensor in model.state_dict().items()}
    model.to("meta")
    real_cpu = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self: torch.ones(self.shape, dtype=self.dtype)
                        if self.is_meta else real_cpu(self))
    payload = pickle.dumps(model)
    monkeypatch.undo()
    loaded = pickle.loads(payload)
    assert {name: tensor.device.type for name, tensor in loaded.state_dict().items()} == dict.fromkeys(shapes, "cpu")
    assert {name: tensor.shape for name, tensor in loaded.state_dict().items()} == shapes
    assert loaded(to_tensors(frame, loaded.input_specs)).shape == (len(frame),)


def test_unpickling_does_not_move_the_random_state(specs):
    payload = pickle.dumps(FinalMLP(specs, SMALL))
    torch.manual_seed(0)
    pickle.loads(payload)
    after_load = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after_load)


USER_COLUMNS, ITEM_COLUMNS = ["Age", "state"], ["Book-Title_0", "Book-Title_1", "Book-Author"]


def ensemble_of_two(specs, config) -> SeedEnsemble:
    ensemble = SeedEnsemble([FinalMLP(specs, config), FinalMLP(specs, config)])
    ensemble.calibration.scale.fill_(2.0)
    ensemble.calibration.bias.fill_(-0.5)
    return ensemble


@pytest.mark.parametrize("model_type", [FinalMLP, ensemble_of_two])
@pytest.mark.parametrize("changes", [{},
                                     {"use_gating": False, "fusion": "additive"},
                                     {"exclude_fields": ("Book-Title_1",)}])
def test_pair_logits_are_the_logits_of_every_user_item_row(specs, frame, model_type, changes):
    """Users x a fixed set of items, each gate once per side: the logits ``forward`` gives the
    rows that pair them (each user's fields beside each item's)."""
    seed_everything(0)
    model = model_type(specs, small(**changes)).eval()
    with torch.no_grad():  # weights far from their tiny initial values: every field matters
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.5)
    users, items = frame.iloc[:3], frame.iloc[3:10]
    pairs = users[USER_COLUMNS].merge(items[ITEM_COLUMNS], how="cross")
    expected = model(to_tensors(pairs, model.input_specs)).view(3, 7)
    got = model.pair_logits(to_tensors(users, model.input_specs),
                            model.item_side(to_tensors(items, model.input_specs)))
    torch.testing.assert_close(got, expected)
    assert expected.std() > 0.1


def test_a_shortlist_is_the_first_members_best_scored_by_the_whole_ensemble(specs, frame):
    seed_everything(0)
    ensemble = ensemble_of_two(specs, SMALL).eval()
    with torch.no_grad():  # members far apart: the first one's order is not the ensemble's
        for parameter in ensemble.members.parameters():
            parameter.normal_(0.0, 0.5)
    user = to_tensors(frame.iloc[:1], ensemble.input_specs)
    items = to_tensors(frame.iloc[1:21], ensemble.input_specs)
    with torch.no_grad():
        everyone = ensemble.pair_logits(user, ensemble.item_side(items))[0]
        first = ensemble.members[0].pair_logits(user, ensemble.members[0].item_side(items))[0]
        got = ensemble.shortlist_logits(user, items, 5)
    shortlisted = torch.isfinite(got)
    assert torch.equal(shortlisted.nonzero().flatten(), first.topk(5).indices.sort().values)
    torch.testing.assert_close(got[shortlisted], everyone[shortlisted])
    assert torch.equal(got[~shortlisted], torch.full((15,), -torch.inf))
    assert not torch.equal(first.argsort(), everyone.argsort())
    torch.testing.assert_close(ensemble.shortlist_logits(user, items, 20), everyone)
    with pytest.raises(ValueError, match="shortlist must be from 1 to 20, got 21"):
        ensemble.shortlist_logits(user, items, 21)


def test_pair_logits_need_one_sided_gate_contexts(specs, frame):
    model = FinalMLP(specs, small(fs1_context=["Age", "Book-Author"])).eval()
    with pytest.raises(ValueError, match="the user gate's context reads fields of the other side"):
        model.item_side(to_tensors(frame, model.input_specs))
