"""FinalMLP and DualMLP against a plain restatement of FuxiCTR 2.3.10's equations.

The reference below follows FuxiCTR's structure (``model_zoo/FinalMLP/src/FinalMLP.py`` and
``DualMLP.py``; ``fuxictr/pytorch/layers``: ``FeatureEmbeddingDict``, ``MLP_Block``): one
``nn.Embedding`` per categorical field and one bias-free ``nn.Linear(1, D)`` per numeric field;
``FeatureSelection`` with each gate's own context embedding (``fs*_ctx_emb``) or a learned
``fs*_ctx_bias``, a gate ``MLP_Block`` ending in a sigmoid, times 2; two ``MLP_Block`` streams;
``InteractionAggregation`` with ``w_x``, ``w_y`` and ``w_xy`` of shape (H·hx·hy, 1). DualMLP: two
``MLP_Block`` streams with one output each, summed. Our weights are copied into it; logits and
parameter counts must agree.
"""

import dataclasses

import pytest
import torch
from torch import nn

from book_recs.models.data import to_tensors
from book_recs.models.feature_spec import field_order
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig

from .conftest import make_frame

WIDE = FinalMLPConfig(embedding_dim=4, mlp1_hidden_units=(12, 6), mlp2_hidden_units=(8,),
                      mlp1_batch_norm=True, mlp2_batch_norm=True, fs_hidden_units=(10,), num_heads=2)


def mlp_block(in_dim, hidden_units, batch_norm, output_dim=None, output_sigmoid=False):
    """FuxiCTR's MLP_Block: Linear (-> BatchNorm) -> ReLU per hidden layer, an optional output
    Linear and an optional output activation."""
    layers = []
    for width in hidden_units:
        layers += [nn.Linear(in_dim, width)] + ([nn.BatchNorm1d(width)] if batch_norm else []) + [nn.ReLU()]
        in_dim = width
    if output_dim is not None:
        layers.append(nn.Linear(in_dim, output_dim))
    if output_sigmoid:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class ReferenceEmbedding(nn.Module):
    """FeatureEmbeddingDict of the named fields, stacked in the given order: (B, F, D)."""

    def __init__(self, specs, names, dim):
        super().__init__()
        self.specs = [s for s in specs if s.name in names]
        self.layers = nn.ModuleDict({
            s.name: nn.Linear(1, dim, bias=False) if s.kind == "numeric" else nn.Embedding(s.vocab_size, dim)
            for s in self.specs})

    def forward(self, columns):
        return torch.stack([
            self.layers[s.name](columns[s.name].view(-1, 1)) if s.kind == "numeric"
            else self.layers[s.name](columns[s.name]) for s in self.specs], dim=1)


class Reference(nn.Module):
    """FuxiCTR's FinalMLP (``gating``, bilinear aggregation) or DualMLP, restated."""

    def __init__(self, specs, config, contexts, dual):
        super().__init__()
        ordered, dim, self.dual = field_order(specs), config.embedding_dim, dual
        self.embedding = ReferenceEmbedding(ordered, [s.name for s in ordered], dim)
        feature_dim = len(ordered) * dim
        out = 1 if dual else None
        self.mlp1 = mlp_block(feature_dim, config.mlp1_hidden_units, config.mlp1_batch_norm, out)
        self.mlp2 = mlp_block(feature_dim, config.mlp2_hidden_units, config.mlp2_batch_norm, out)
        if dual:
            return
        self.contexts = contexts
        self.ctx = nn.ModuleList(ReferenceEmbedding(ordered, names, dim) for names in contexts)
        self.ctx_bias = nn.ParameterList(nn.Parameter(torch.zeros(1, dim)) for names in contexts if not names)
        self.gates = nn.ModuleList(
            mlp_block(dim * max(1, len(names)), config.fs_hidden_units, False, feature_dim, True)
            for names in contexts)
        x_dim, y_dim, self.heads = config.mlp1_hidden_units[-1], config.mlp2_hidden_units[-1], config.num_heads
        self.w_x, self.w_y = nn.Linear(x_dim, 1), nn.Linear(y_dim, 1)
        self.w_xy = nn.Parameter(torch.empty(self.heads * (x_dim // self.heads) * (y_dim // self.heads), 1))

    def forward(self, columns):
        flat = self.embedding(columns).flatten(1)
        if self.dual:
            return (self.mlp1(flat) + self.mlp2(flat)).squeeze(-1)
        biases = iter(self.ctx_bias)
        selected = []
        for names, ctx, gate in zip(self.contexts, self.ctx, self.gates):
            gate_input = ctx(columns).flatten(1) if names else next(biases).repeat(len(flat), 1)
            selected.append(flat * gate(gate_input) * 2)
        x, y = self.mlp1(selected[0]), self.mlp2(selected[1])
        head_x, head_y = x.view(len(x), self.heads, 1, -1), y.view(len(y), self.heads, -1, 1)
        w_xy = self.w_xy.view(self.heads, head_x.size(-1), head_y.size(-2))
        interaction = torch.matmul(torch.matmul(head_x, w_xy), head_y).sum(dim=(1, 2, 3))
        return (self.w_x(x) + self.w_y(y)).squeeze(-1) + interaction


def copy_weights(model: FinalMLP, reference: Reference) -> None:
    """Our parameters and batch-norm statistics into the reference, module by module."""
    def embedding(ours, theirs):
        numeric = [s for s in theirs.specs if s.kind == "numeric"]
        categorical = [s for s in theirs.specs if s.kind == "categorical"]
        for i, spec in enumerate(numeric):
            theirs.layers[spec.name].weight.copy_(ours.numeric[i].view(-1, 1))
        for table, spec in zip(ours.categorical, categorical):
            theirs.layers[spec.name].weight.copy_(table.weight)

    def sequential(ours, theirs):
        our_modules = [m for m in ours if isinstance(m, nn.Linear | nn.BatchNorm1d)]
        their_modules = [m for m in theirs if isinstance(m, nn.Linear | nn.BatchNorm1d)]
        assert len(our_modules) == len(their_modules)
        for mine, other in zip(our_modules, their_modules):
            other.load_state_dict(mine.state_dict())

    with torch.no_grad():
        embedding(model.embedding, reference.embedding)
        if reference.dual:
            sequential([*model.mlp1.layers, model.fusion.w1], reference.mlp1)
            sequential([*model.mlp2.layers, model.fusion.w2], reference.mlp2)
            return
        sequential(model.mlp1.layers, reference.mlp1)
        sequential(model.mlp2.layers, reference.mlp2)
        biases = iter(reference.ctx_bias)
        for gate, ctx, their_gate in zip(model.gates, reference.ctx, reference.gates):
            if gate.context_embedding is not None:
                embedding(gate.context_embedding, ctx)
            else:
                next(biases).copy_(gate.context_bias)
            sequential([*gate.mlp.layers, gate.out], their_gate)
        reference.w_x.load_state_dict(model.fusion.w1.state_dict())
        reference.w_y.load_state_dict(model.fusion.w2.state_dict())
        reference.w_xy.copy_(model.fusion.w12.reshape(-1, 1))


def randomise(model: nn.Module) -> None:
    """Every parameter and batch-norm statistic away from its initial value (biases 0, etc.)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point() and not name.startswith("calibration"):
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.3)


@pytest.mark.parametrize("contexts", [
    (["Age", "state"], ["Book-Title_0", "Book-Title_1", "Book-Author"]),  # user / item fields
    ([], []),                                                              # learned vectors
    (["state"], []),
    ("dual", None),
], ids=["user-item", "learned", "mixed", "dualmlp"])
def test_logits_and_parameter_count_match_fuxictr(specs, contexts):
    dual = contexts[0] == "dual"
    config = (dataclasses.replace(WIDE, use_gating=False, fusion="additive") if dual
              else dataclasses.replace(WIDE, fs1_context=contexts[0], fs2_context=contexts[1]))
    model = FinalMLP(specs, config)
    randomise(model)
    model.eval()
    reference = Reference(specs, config, None if dual else contexts, dual).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    copy_weights(model, reference)
    frame = make_frame(64, seed=3)
    columns = {s.name: torch.tensor(frame[s.name].to_numpy()) for s in specs}
    columns = {name: values.float() if values.is_floating_point() else values for name, values in columns.items()}
    with torch.no_grad():
        torch.testing.assert_close(model(to_tensors(frame, model.input_specs)), reference(columns),
                                   rtol=0, atol=1e-6)
