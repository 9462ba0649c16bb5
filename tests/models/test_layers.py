"""Shapes, defining properties and FuxiCTR's initialisation of each FinalMLP block."""

import math

import pytest
import torch
from torch import nn

from book_recs.models.feature_spec import FeatureSpec
from book_recs.models.layers import (
    BilinearFusion,
    FeatureEmbedding,
    FeatureGating,
    LogitCalibration,
    MLPStream,
)


def test_feature_embedding_shape_and_numeric_scaling(specs):
    embedding = FeatureEmbedding(specs, embedding_dim=4)
    inputs = {"numeric": torch.tensor([[1.0, 2.0, 0.0]]),
              "categorical": torch.tensor([[0, 7]])}
    out = embedding(inputs)
    assert out.shape == (1, 5, 4)
    # a numeric field's embedding is its learned vector times the value
    assert torch.allclose(out[0, 1], 2.0 * embedding.numeric[1])
    assert torch.equal(out[0, 2], torch.zeros(4))
    # categorical id 0 (out of vocabulary) is a learned row like any other
    assert torch.equal(out[0, 3], embedding.categorical[0].weight[0])


def test_a_field_subset_reads_its_columns_out_of_the_full_layout(specs):
    inputs = {"numeric": torch.tensor([[1.0, 2.0, 3.0]]), "categorical": torch.tensor([[4, 7]])}
    subset = FeatureEmbedding(specs, embedding_dim=4, fields=["Book-Title_1", "Book-Author"])
    out = subset(inputs)
    assert out.shape == (1, 2, 4)
    assert torch.allclose(out[0, 0], 3.0 * subset.numeric[0])
    assert torch.equal(out[0, 1], subset.categorical[0].weight[7])
    with pytest.raises(ValueError, match="genre"):
        FeatureEmbedding(specs, 4, fields=["genre"])


def test_embeddings_start_as_fuxictr_starts_them():
    """Tables normal(0, 1e-4) (a sequence's padding row 0); numeric vectors Xavier normal of a
    (D, 1) weight: std sqrt(2 / (1 + D))."""
    torch.manual_seed(0)
    specs = [FeatureSpec(f"n{i}", "numeric") for i in range(400)] + [
        FeatureSpec("c", "categorical", 5000), FeatureSpec("s", "sequence", 5000)]
    embedding = FeatureEmbedding(specs, embedding_dim=15)
    assert embedding.numeric.std().item() == pytest.approx(math.sqrt(2 / 16), rel=0.05)
    assert embedding.categorical[0].weight.std().item() == pytest.approx(1e-4, rel=0.05)
    bag = embedding.sequence[0].weight
    assert torch.equal(bag[0], torch.zeros(15)) and bag[1:].std().item() == pytest.approx(1e-4, rel=0.05)


def test_sequence_field_is_mean_pooled_without_padding():
    specs = [FeatureSpec("genres", "sequence", vocab_size=6)]
    embedding = FeatureEmbedding(specs, embedding_dim=3)
    table = embedding.sequence[0].weight
    out = embedding({"genres": torch.tensor([[2, 4, 0, 0]])})
    assert out.shape == (1, 1, 3)
    assert torch.allclose(out[0, 0], (table[2] + table[4]) / 2)


def test_gate_values_lie_strictly_between_0_and_2(specs):
    own = FeatureEmbedding(specs, embedding_dim=4, fields=["Age", "state"])
    with torch.no_grad():
        own.categorical[0].weight.normal_(std=3.0)  # a context that varies from row to row
    gate = FeatureGating(num_fields=5, embedding_dim=4, context_embedding=own, hidden_units=[16])
    inputs = {"numeric": torch.rand(64, 3), "categorical": torch.randint(0, 5, (64, 2))}
    weighted, values = gate(inputs, torch.randn(64, 5, 4))
    assert weighted.shape == values.shape == (64, 20)
    assert bool((values > 0).all() and (values < 2).all())
    assert values.std() > 0.01  # not a constant: the gate reacts to its context


def test_gate_with_empty_context_reads_a_learned_vector_and_ignores_the_input():
    gate = FeatureGating(num_fields=2, embedding_dim=3, context_embedding=None, hidden_units=[4])
    _, first = gate({}, torch.randn(5, 2, 3))
    _, second = gate({}, torch.randn(5, 2, 3))
    assert torch.equal(first, second)
    assert gate.context_bias is not None


def test_a_gate_reads_its_context_through_its_own_embedding_not_the_models(specs):
    own = FeatureEmbedding(specs, embedding_dim=4, fields=["Age", "state"])
    assert own.field_names == ["Age", "state"]
    gate = FeatureGating(num_fields=5, embedding_dim=4, context_embedding=own, hidden_units=[8])
    inputs = {"numeric": torch.rand(6, 3), "categorical": torch.randint(0, 5, (6, 2))}
    _, first = gate(inputs, torch.randn(6, 5, 4))
    _, second = gate(inputs, torch.randn(6, 5, 4))
    assert torch.equal(first, second)
    other = {"numeric": inputs["numeric"] + 1, "categorical": inputs["categorical"]}
    assert not torch.equal(gate(other, torch.randn(6, 5, 4))[1], first)


def test_mlp_stream_output_width():
    assert MLPStream(10, [7, 3], dropout=0.1, batch_norm=True)(torch.randn(4, 10)).shape == (4, 3)


def test_bilinear_fusion_with_zero_bilinear_weights_is_the_linear_fusion():
    fusion = BilinearFusion(6, 4, num_heads=2)
    linear = BilinearFusion(6, 4, num_heads=2, bilinear=False)
    linear.load_state_dict({k: v for k, v in fusion.state_dict().items() if k != "w12"})
    o1, o2 = torch.randn(8, 6), torch.randn(8, 4)
    assert not torch.allclose(fusion(o1, o2), linear(o1, o2))
    with torch.no_grad():
        fusion.w12.zero_()
    expected = fusion.w1(o1).squeeze(-1) + fusion.w2(o2).squeeze(-1)
    assert torch.allclose(fusion(o1, o2), expected)
    assert torch.allclose(fusion(o1, o2), linear(o1, o2))


def test_bilinear_fusion_matches_the_per_head_formula():
    fusion = BilinearFusion(4, 6, num_heads=2)
    o1, o2 = torch.randn(3, 4), torch.randn(3, 6)
    manual = fusion.w1(o1).squeeze(-1) + fusion.w2(o2).squeeze(-1)
    for h in range(2):
        manual = manual + torch.einsum("bi,ij,bj->b", o1[:, 2 * h:2 * h + 2], fusion.w12[h],
                                       o2[:, 3 * h:3 * h + 3])
    assert torch.allclose(fusion(o1, o2), manual, atol=1e-6)


def test_bilinear_weights_start_as_fuxictrs_h_hx_hy_by_1_tensor():
    """FuxiCTR draws w_xy as an (H·hx·hy, 1) tensor with Xavier normal after w_x and w_y: the same
    draws in the same order, std sqrt(2 / (1 + H·hx·hy)), 0.008 at the paper's widths."""
    fusion = BilinearFusion(400, 800, num_heads=10)
    torch.manual_seed(0)
    fusion.reset_parameters()
    torch.manual_seed(0)
    nn.init.xavier_normal_(torch.empty(1, 400))
    nn.init.xavier_normal_(torch.empty(1, 800))
    w_xy = nn.init.xavier_normal_(torch.empty(10 * 40 * 80, 1))
    assert torch.equal(fusion.w12.detach().reshape(-1, 1), w_xy)
    assert fusion.w12.std().item() == pytest.approx(0.0079, abs=3e-4)
    assert torch.equal(fusion.w1.bias.detach(), torch.zeros(1)) and torch.equal(fusion.w2.bias.detach(), torch.zeros(1))


def test_heads_that_do_not_divide_the_widths_raise_a_clear_error():
    with pytest.raises(ValueError, match=r"400 and 800 must both divide by num_heads=3"):
        BilinearFusion(400, 800, num_heads=3)


def test_logit_calibration_recovers_a_known_platt_scaling(caplog):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(20000, generator=generator)
    labels = torch.bernoulli(torch.sigmoid(0.5 * logits - 0.3), generator=generator)
    calibration = LogitCalibration()
    torch.testing.assert_close(calibration(logits), logits)  # identity before fitting
    calibration.fit(logits, labels)
    assert calibration.scale.item() == pytest.approx(0.5, abs=0.05)
    assert calibration.bias.item() == pytest.approx(-0.3, abs=0.05)
    fitted = calibration.scale.item()
    calibration.fit(logits, 1 - labels)  # reversed labels: a negative slope is not applied
    assert calibration.scale.item() == fitted
    assert "slope" in caplog.text
