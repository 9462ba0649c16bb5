"""The building blocks of FinalMLP (Mao et al., AAAI 2023), each a small ``nn.Module``.

Shapes: B batch, F fields, D embedding dim, H fusion heads. The maths follows FuxiCTR's reference
code (``model_zoo/FinalMLP/src/FinalMLP.py``); the structure follows torchrec (one block, one class).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

from book_recs.models.feature_spec import PADDING_ID, FeatureSpec, field_order

logger = logging.getLogger(__name__)


class FeatureEmbedding(nn.Module):
    """Embeds fields into D dimensions.

    Categorical: one table per field (row 0 = out-of-vocabulary, learned). Numeric: one learned
    vector per field, scaled by the value. Sequence (multi-valued): mean of the ids' embeddings,
    padding (id 0) ignored.

    Args:
        specs: The layout of the input tensors (``field_order`` of these specs).
        embedding_dim: D.
        fields: Names of the fields to embed (default: all of ``specs``); a gate's own context
            embedding reads only its context fields out of the same inputs.

    Input: ``{"numeric": (B, Fn) float, "categorical": (B, Fc) long, <sequence name>: (B, L) long}``
    laid out by ``specs``. Output: (B, F, D), the chosen fields in ``field_order``.

    >>> emb = FeatureEmbedding([FeatureSpec("Age", "numeric"), FeatureSpec("c", "categorical", 5)], 4)
    >>> emb({"numeric": torch.ones(2, 1), "categorical": torch.zeros(2, 1, dtype=torch.long)}).shape
    torch.Size([2, 2, 4])
    """

    def __init__(self, specs: Sequence[FeatureSpec], embedding_dim: int,
                 fields: Sequence[str] | None = None) -> None:
        super().__init__()
        ordered = field_order(specs)
        if fields is not None:
            unknown = set(fields) - {s.name for s in ordered}
            if unknown:
                raise ValueError(f"fields {sorted(unknown)} are not among the input fields")
        chosen = ordered if fields is None else [s for s in ordered if s.name in set(fields)]
        # Columns of the numeric and categorical inputs to read; None = all of them, in order.
        for kind in ("numeric", "categorical"):
            of_kind = [s.name for s in ordered if s.kind == kind]
            columns = [of_kind.index(s.name) for s in chosen if s.kind == kind]
            self.register_buffer(
                f"{kind}_columns",
                None if columns == list(range(len(of_kind))) else torch.tensor(columns, dtype=torch.long),
                persistent=False)
        self.num_numeric = sum(s.kind == "numeric" for s in chosen)
        self.categorical = nn.ModuleList(
            nn.Embedding(s.vocab_size, embedding_dim) for s in chosen if s.kind == "categorical")
        self.sequence_names = [s.name for s in chosen if s.kind == "sequence"]
        self.sequence = nn.ModuleList(
            nn.EmbeddingBag(s.vocab_size, embedding_dim, mode="mean", padding_idx=PADDING_ID)
            for s in chosen if s.kind == "sequence")
        self.numeric = nn.Parameter(torch.empty(self.num_numeric, embedding_dim))
        self.field_names = [s.name for s in chosen]  # in the order of the output's fields
        self.num_fields = len(chosen)
        self.embedding_dim = embedding_dim
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As FuxiCTR: tables normal with std 1e-4 (a sequence table's padding row stays 0);
        numeric vectors Xavier normal (they are FuxiCTR's ``nn.Linear(1, D)`` weights)."""
        for table in self.categorical:
            nn.init.normal_(table.weight, std=1e-4)
        with torch.no_grad():
            for bag in self.sequence:
                nn.init.normal_(bag.weight[PADDING_ID + 1:], std=1e-4)
        # Xavier normal of a (D, 1) weight, field by field: std sqrt(2 / (1 + D)).
        nn.init.normal_(self.numeric, std=math.sqrt(2.0 / (1 + self.embedding_dim)))

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        parts = []
        if self.num_numeric:
            numeric = inputs["numeric"]
            if self.numeric_columns is not None:
                numeric = numeric[:, self.numeric_columns]
            parts.append(numeric.unsqueeze(-1) * self.numeric)
        if len(self.categorical):
            ids = inputs["categorical"]
            if self.categorical_columns is not None:
                ids = ids[:, self.categorical_columns]
            parts.append(torch.stack([table(ids[:, i]) for i, table in enumerate(self.categorical)], 1))
        if self.sequence_names:
            parts.append(torch.stack(
                [bag(inputs[name]) for name, bag in zip(self.sequence_names, self.sequence)], 1))
        return torch.cat(parts, dim=1)


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU mask comes from ``torch.rand``: the same Bernoulli(1 - p) keep mask
    (torch's own CPU kernel also keeps a unit when a uniform draw clears p) and 1 / (1 - p) scale.

    Why: on a CPU that is not Intel's, torch's ``bernoulli_`` draws the mask one double at a time
    (its vectorised MKL path checks for an Intel CPU); with a float ``rand`` the layer's forward and
    backward take 9 ms instead of 19 ms on a (4096, 200) batch here, and the mask was a fifth of a
    tuned training step. Another random stream, so other masks than
    ``nn.Dropout`` for the same seed; the same seed still gives the same masks. Elsewhere (GPU, eval
    mode, p in {0, 1}) it is ``nn.Dropout``.

    >>> layer = Dropout(0.5).train()
    >>> kept = layer(torch.ones(10_000))
    >>> sorted(set(kept.tolist())), abs(float((kept > 0).float().mean()) - 0.5) < 0.03
    ([0.0, 2.0], True)
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p in (0.0, 1.0) or x.device.type != "cpu":
            return super().forward(x)
        # Uniform draws in float32 whatever x's dtype (a bfloat16 draw would round p); the mask
        # becomes 0 or 1 / (1 - p) in place: one tensor, one multiplication.
        mask = torch.rand(x.shape, dtype=torch.float32, device=x.device).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * mask.to(x.dtype)


class MLPStream(nn.Module):
    """Linear -> (BatchNorm) -> ReLU -> (Dropout) per hidden layer.

    Input (B, in_dim); output (B, hidden_units[-1]).

    >>> MLPStream(8, [6, 4])(torch.zeros(3, 8)).shape
    torch.Size([3, 4])
    """

    def __init__(self, in_dim: int, hidden_units: Sequence[int], dropout: float = 0.0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        if not hidden_units:
            raise ValueError("an MLP stream needs at least one hidden layer")
        layers: list[nn.Module] = []
        for width in hidden_units:
            layers.append(nn.Linear(in_dim, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(Dropout(dropout))
            in_dim = width
        self.layers = nn.Sequential(*layers)
        self.out_dim = in_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class FeatureGating(nn.Module):
    """Gating-based feature selection for one stream.

    The gate reads a context, passes it through an MLP ending in 2·sigmoid, and re-weights every
    element of the flattened field embeddings by a factor in (0, 2). As in FuxiCTR, the context is
    the context fields embedded by the gate's own ``context_embedding`` (tables apart from the
    model's, trained only through the gate), or a learned vector without one.

    Args:
        num_fields, embedding_dim: F and D of the embeddings it re-weights.
        context_embedding: The gate's own embedding of its context fields, or None (a learned
            vector: the paper's gate without context).
        hidden_units: Hidden widths of the gate MLP.

    Input: the model's inputs and their embeddings (B, F, D); output (weighted (B, F·D),
    gate (B, F·D)).

    >>> gate = FeatureGating(num_fields=3, embedding_dim=4, context_embedding=None, hidden_units=[8])
    >>> weighted, g = gate({}, torch.randn(2, 3, 4))
    >>> weighted.shape, bool(((g > 0) & (g < 2)).all())
    (torch.Size([2, 12]), True)
    """

    def __init__(self, num_fields: int, embedding_dim: int, context_embedding: FeatureEmbedding | None,
                 hidden_units: Sequence[int]) -> None:
        super().__init__()
        self.context_embedding = context_embedding
        in_dim = embedding_dim * (context_embedding.num_fields if context_embedding is not None else 1)
        self.context_bias = None if context_embedding is not None else nn.Parameter(torch.zeros(1, embedding_dim))
        self.mlp = MLPStream(in_dim, hidden_units)
        self.out = nn.Linear(self.mlp.out_dim, num_fields * embedding_dim)

    def forward(self, inputs: dict[str, Tensor], embeddings: Tensor) -> tuple[Tensor, Tensor]:
        if self.context_embedding is not None:
            gate_input = self.context_embedding(inputs).flatten(1)
        else:
            gate_input = self.context_bias.expand(embeddings.size(0), -1)
        gate = 2 * torch.sigmoid(self.out(self.mlp(gate_input)))
        return embeddings.flatten(1) * gate, gate


class BilinearFusion(nn.Module):
    """Multi-head bilinear fusion of two stream outputs into one logit.

    logit = b1 + w1·o1 + b2 + w2·o2 + Σ_h o1_hᵀ W_h o2_h, with o1, o2 split into H equal heads.
    With ``bilinear=False`` (or W = 0) it is the linear fusion of a concatenation, which is
    DualMLP's additive fusion of two one-output streams. Two biases, as FuxiCTR's ``w_x`` and
    ``w_y`` (and DualMLP's two output layers): the same function as one bias, but the same
    parameters and the same Adam steps as the reference.

    Input (B, d1), (B, d2); output (B,).

    >>> BilinearFusion(4, 6, num_heads=2)(torch.zeros(3, 4), torch.zeros(3, 6)).shape
    torch.Size([3])
    """

    def __init__(self, dim1: int, dim2: int, num_heads: int = 1, bilinear: bool = True) -> None:
        super().__init__()
        if bilinear and (num_heads < 1 or dim1 % num_heads or dim2 % num_heads):
            raise ValueError(
                f"bilinear fusion splits the stream outputs into heads: widths {dim1} and {dim2} "
                f"must both divide by num_heads={num_heads}")
        self.num_heads = num_heads
        self.w1 = nn.Linear(dim1, 1)
        self.w2 = nn.Linear(dim2, 1)
        self.w12 = (nn.Parameter(torch.empty(num_heads, dim1 // num_heads, dim2 // num_heads))
                    if bilinear else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As FuxiCTR: Xavier normal linear weights, zero biases, and the bilinear weights drawn as
        FuxiCTR's (H·hx·hy, 1) tensor is, Xavier normal with fan-in 1 and fan-out H·hx·hy: std
        sqrt(2 / (1 + H·hx·hy)), 0.008 at the paper's widths (Xavier over an (H, hx, hy) tensor
        would start at 0.022)."""
        for linear in (self.w1, self.w2):
            nn.init.xavier_normal_(linear.weight)
            nn.init.zeros_(linear.bias)
        if self.w12 is not None:
            nn.init.normal_(self.w12, std=math.sqrt(2.0 / (1 + self.w12.numel())))

    def linear_terms(self, o1: Tensor, o2: Tensor) -> tuple[Tensor, Tensor]:
        """(b1 + w1·o1, b2 + w2·o2), each (B,): the per-stream parts of the logit."""
        return self.w1(o1).squeeze(-1), self.w2(o2).squeeze(-1)

    def forward(self, o1: Tensor, o2: Tensor) -> Tensor:
        term1, term2 = self.linear_terms(o1, o2)
        logit = term1 + term2
        if self.w12 is not None:
            heads1 = o1.view(o1.size(0), self.num_heads, -1)
            heads2 = o2.view(o2.size(0), self.num_heads, -1)
            logit = logit + torch.einsum("bhi,hij,bhj->b", heads1, self.w12, heads2)
        return logit


class LogitCalibration(nn.Module):
    """Platt scaling of the final logit: ``scale * logit + bias``, identity until ``fit``.

    Fitted after training on held-out logits (the valid split), it fixes the over- or
    under-confidence dropout and early stopping on AUC leave, without changing any ranking
    (``scale`` > 0 keeps the order, so AUC, gAUC and nDCG are unchanged). Buffers, not parameters:
    the optimiser never touches them, and they are saved with the weights.

    Input (B,); output (B,).

    >>> LogitCalibration()(torch.tensor([-1.0, 2.0]))
    tensor([-1.,  2.])
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("bias", torch.tensor(0.0))

    def forward(self, logits: Tensor) -> Tensor:
        return self.scale * logits + self.bias

    def reset_parameters(self) -> None:
        """Back to the identity."""
        self.scale.fill_(1.0)
        self.bias.fill_(0.0)

    @torch.no_grad()
    def fit(self, logits: Tensor, labels: Tensor) -> None:
        """Fit ``scale`` and ``bias`` by unpenalised logistic regression of ``labels`` on ``logits``
        (uncalibrated, e.g. from the model before fitting). A non-positive slope would reverse the
        ranking: then it warns and stays the identity rather than fail a finished training run."""
        regression = LogisticRegression(C=np.inf).fit(
            logits.double().numpy().reshape(-1, 1), labels.numpy())
        scale = float(regression.coef_[0, 0])
        if scale <= 0:
            logger.warning("calibration slope %.3g <= 0: the logits do not rank these labels; "
                           "Platt scaling left as the identity", scale)
            return
        self.scale.fill_(scale)
        self.bias.fill_(float(regression.intercept_[0]))
