"""Shapes and defining properties of each FinalMLP block."""

import pytest
import torch

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


def test_sequence_field_is_mean_pooled_without_padding():
    specs = [FeatureSpec("genres", "sequence", vocab_size=6)]
    embedding = FeatureEmbedding(specs, embedding_dim=3)
    table = embedding.sequence[0].weight
    out = embedding({"genres": torch.tensor([[2, 4, 0, 0]])})
    assert out.shape == (1, 1, 3)
    assert torch.allclose(out[0, 0], (table[2] + table[4]) / 2)


def test_gate_values_lie_strictly_between_0_and_2():
    gate = FeatureGating(num_fields=5, embedding_dim=4, context=[0, 3], hidden_units=[16])
    weighted, values = gate(torch.randn(64, 5, 4) * 3)
    assert weighted.shape == values.shape == (64, 20)
    assert bool((values > 0).all() and (values < 2).all())
    assert values.std() > 0.01  # not a constant: the gate reacts to its context


def test_gate_with_empty_context_reads_a_learned_vector_and_ignores_the_input():
    gate = FeatureGating(num_fields=2, embedding_dim=3, context=[], hidden_units=[4])
    _, first = gate(torch.randn(5, 2, 3))
    _, second = gate(torch.randn(5, 2, 3))
    assert torch.equal(first, second)
    assert gate.context_bias is not None


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
