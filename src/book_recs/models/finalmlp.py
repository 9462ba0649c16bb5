"""FinalMLP: two MLP streams with per-stream feature gating and multi-head bilinear fusion.

DualMLP is the same class with ``use_gating=False, fusion="additive"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from book_recs.models.feature_spec import FeatureSpec, drop_fields, field_order, select_fields
from book_recs.models.layers import (
    BilinearFusion,
    FeatureEmbedding,
    FeatureGating,
    LogitCalibration,
    MLPStream,
)


class FinalMLP(nn.Module):
    """FinalMLP (Mao et al., AAAI 2023) over the fields described by ``specs``.

    Args:
        specs: The feature schema (one FeatureSpec per input field).
        embedding_dim: D.
        mlp1_hidden_units, mlp1_dropout, mlp1_batch_norm: the first (user) stream.
        mlp2_hidden_units, mlp2_dropout, mlp2_batch_norm: the second (item) stream.
        use_gating: Feature gating per stream (off for DualMLP).
        fs_hidden_units: Hidden widths of each gate MLP.
        fs1_context, fs2_context: Field names or glob patterns whose embeddings feed each gate;
            ``None`` takes the fields whose spec context is ``user`` / ``item``; ``[]`` a learned
            vector (the paper's default when no context is given).
        num_heads: Heads of the bilinear fusion; both stream widths must divide by it.
        fusion: ``bilinear`` (FinalMLP) or ``additive`` (DualMLP: w1·o1 + w2·o2 + b).
        exclude_fields: Field names or glob patterns the model does not read (e.g.
            ``["Book-Title_*"]``); the inputs keep the full ``specs`` layout, so every model of a
            project shares one model-input table.

    Input: ``{"numeric": (B, Fn), "categorical": (B, Fc), ...}`` laid out by ``specs``; output:
    logits (B,).

    >>> specs = [FeatureSpec("Age", "numeric", context="user"), FeatureSpec("a", "categorical", 9)]
    >>> model = FinalMLP(specs, embedding_dim=4, mlp1_hidden_units=[8], mlp2_hidden_units=[8],
    ...                  fs_hidden_units=[8], num_heads=2)
    >>> model({"numeric": torch.rand(3, 1), "categorical": torch.ones(3, 1, dtype=torch.long)}).shape
    torch.Size([3])
    """

    def __init__(
        self,
        specs: Sequence[FeatureSpec],
        embedding_dim: int = 10,
        mlp1_hidden_units: Sequence[int] = (400,),
        mlp1_dropout: float = 0.0,
        mlp1_batch_norm: bool = False,
        mlp2_hidden_units: Sequence[int] = (800,),
        mlp2_dropout: float = 0.0,
        mlp2_batch_norm: bool = False,
        use_gating: bool = True,
        fs_hidden_units: Sequence[int] = (800,),
        fs1_context: Sequence[str] | None = None,
        fs2_context: Sequence[str] | None = None,
        num_heads: int = 1,
        fusion: Literal["bilinear", "additive"] = "bilinear",
        exclude_fields: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if fusion not in ("bilinear", "additive"):
            raise ValueError(f"fusion must be 'bilinear' or 'additive', got {fusion!r}")
        self.specs = list(specs)
        self.hparams: dict[str, Any] = {
            "embedding_dim": embedding_dim, "mlp1_hidden_units": list(mlp1_hidden_units),
            "mlp1_dropout": mlp1_dropout, "mlp1_batch_norm": mlp1_batch_norm,
            "mlp2_hidden_units": list(mlp2_hidden_units), "mlp2_dropout": mlp2_dropout,
            "mlp2_batch_norm": mlp2_batch_norm, "use_gating": use_gating,
            "fs_hidden_units": list(fs_hidden_units),
            "fs1_context": None if fs1_context is None else list(fs1_context),
            "fs2_context": None if fs2_context is None else list(fs2_context),
            "num_heads": num_heads, "fusion": fusion, "exclude_fields": list(exclude_fields),
        }
        ordered = field_order(self.specs)
        used = drop_fields(self.specs, exclude_fields)
        if not used:
            raise ValueError(f"exclude_fields {list(exclude_fields)} leaves no field to read")
        # Columns of the numeric and categorical input tensors that the model reads.
        for kind in ("numeric", "categorical"):
            of_kind = [s.name for s in ordered if s.kind == kind]
            self.register_buffer(f"{kind}_columns", torch.tensor(
                [of_kind.index(s.name) for s in used if s.kind == kind], dtype=torch.long),
                persistent=False)
        self.field_names = [s.name for s in used]
        self.embedding = FeatureEmbedding(used, embedding_dim)
        num_fields = len(self.field_names)
        flat_dim = num_fields * embedding_dim
        self.gates = None
        if use_gating:
            # Patterns are checked against every input field; excluded fields drop out of the
            # context (a context left empty becomes the learned vector).
            def context(side: str, patterns: Sequence[str] | None) -> list[int]:
                if patterns is None:
                    patterns = [s.name for s in used if s.context == side]
                selected = {ordered[i].name for i in select_fields(self.specs, patterns)}
                return [i for i, name in enumerate(self.field_names) if name in selected]

            contexts = [context("user", fs1_context), context("item", fs2_context)]
            self.gates = nn.ModuleList(
                FeatureGating(num_fields, embedding_dim, context, fs_hidden_units)
                for context in contexts)
        self.mlp1 = MLPStream(flat_dim, mlp1_hidden_units, mlp1_dropout, mlp1_batch_norm)
        self.mlp2 = MLPStream(flat_dim, mlp2_hidden_units, mlp2_dropout, mlp2_batch_norm)
        self.fusion = BilinearFusion(self.mlp1.out_dim, self.mlp2.out_dim, num_heads,
                                     bilinear=fusion == "bilinear")
        self.calibration = LogitCalibration()
        self._init_linear_layers()

    def _init_linear_layers(self) -> None:
        """Xavier-normal weights and zero biases for every linear layer (FuxiCTR)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def streams(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Stream outputs o1 (B, d1), o2 (B, d2) and gates (B, F·D) each (None without gating)."""
        embeddings = self.embedding({
            **inputs, "numeric": inputs["numeric"][:, self.numeric_columns],
            "categorical": inputs["categorical"][:, self.categorical_columns]})
        if self.gates is None:
            flat = embeddings.flatten(1)
            return self.mlp1(flat), self.mlp2(flat), None, None
        x1, gate1 = self.gates[0](embeddings)
        x2, gate2 = self.gates[1](embeddings)
        return self.mlp1(x1), self.mlp2(x2), gate1, gate2

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        o1, o2, _, _ = self.streams(inputs)
        return self.calibration(self.fusion(o1, o2))

    def embedding_l2(self) -> Tensor:
        """Squared L2 norm of all embedding parameters (FuxiCTR's embedding_regularizer term)."""
        return sum(parameter.pow(2).sum() for parameter in self.embedding.parameters())
