"""FinalMLP as a whole: shapes, DualMLP flags, batch-order invariance, unseen ids."""

import pytest
import torch

from book_recs.models.data import batches, to_tensors
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.trainer import seed_everything

from .conftest import SMALL_MODEL


def test_forward_gives_one_logit_per_row(specs, frame):
    model = FinalMLP(specs, **SMALL_MODEL)
    assert model(to_tensors(frame, specs)).shape == (len(frame),)


def test_default_gate_contexts_come_from_the_specs(specs):
    model = FinalMLP(specs, **SMALL_MODEL)
    user_gate, item_gate = model.gates
    assert user_gate.context == [0, 3]          # Age, state
    assert item_gate.context == [1, 2, 4]       # title components, author


def test_dualmlp_is_the_same_class_with_gating_off_and_additive_fusion(specs, frame):
    model = FinalMLP(specs, **SMALL_MODEL, use_gating=False, fusion="additive")
    assert model.gates is None and model.fusion.w12 is None
    assert not any("gate" in name for name, _ in model.named_parameters())
    o1, o2, gate1, gate2 = model.streams(to_tensors(frame, specs))
    assert gate1 is None and gate2 is None
    model.eval()
    logits = model(to_tensors(frame, specs))
    assert torch.allclose(logits, model.fusion.w1(o1).squeeze(-1) + model.fusion.w2(o2).squeeze(-1))


def test_unknown_fusion_is_refused(specs):
    with pytest.raises(ValueError, match="fusion"):
        FinalMLP(specs, **SMALL_MODEL, fusion="concat")


def test_forward_is_invariant_to_batch_order_in_eval_mode(specs, frame):
    model = FinalMLP(specs, **SMALL_MODEL, mlp1_batch_norm=True, mlp1_dropout=0.3).eval()
    tensors = to_tensors(frame, specs)
    permutation = torch.randperm(len(frame), generator=torch.Generator().manual_seed(0))
    shuffled = {k: v[permutation] for k, v in tensors.items()}
    with torch.no_grad():
        assert torch.allclose(model(tensors)[permutation], model(shuffled), atol=1e-6)
        in_batches = torch.cat([model(b) for b in batches(tensors, 37)])
    assert torch.allclose(in_batches, model(tensors).detach(), atol=1e-6)


def test_out_of_vocabulary_ids_and_zero_numbers_do_not_break_the_forward(specs, frame):
    model = FinalMLP(specs, **SMALL_MODEL).eval()
    tensors = to_tensors(frame, specs)
    tensors["categorical"].zero_()
    tensors["numeric"].zero_()
    assert torch.isfinite(model(tensors)).all()


def test_missing_feature_columns_are_named(specs, frame):
    with pytest.raises(KeyError, match="Book-Author"):
        to_tensors(frame.drop(columns="Book-Author"), specs)



def test_excluded_fields_are_not_read(specs, frame):
    seed_everything(0)
    model = FinalMLP(specs, **SMALL_MODEL, exclude_fields=["Book-Title_*"]).eval()
    assert model.field_names == ["Age", "state", "Book-Author"]
    tensors = to_tensors(frame, specs)
    changed = {**tensors, "numeric": tensors["numeric"].clone()}
    changed["numeric"][:, 1:3] = torch.rand(len(frame), 2)  # the two title columns
    assert torch.equal(model(tensors), model(changed))
    # A gate context naming excluded fields keeps only the fields the model reads.
    gated = FinalMLP(specs, **SMALL_MODEL, fs2_context=["Book-Author", "Book-Title_*"],
                     exclude_fields=["Book-Title_*"]).eval()
    assert gated.gates[1].context == [2]
    assert torch.equal(gated(tensors), gated(changed))
    with pytest.raises(ValueError, match="match no field"):
        FinalMLP(specs, **SMALL_MODEL, exclude_fields=["Book-Titel_*"])
