"""FinalMLP: two MLP streams with per-stream feature gating and multi-head bilinear fusion.

DualMLP is the same class with ``use_gating=False, fusion="additive"``.

The maths and the initialisation are FuxiCTR 2.3.10's (``model_zoo/FinalMLP/src/FinalMLP.py`` and
``DualMLP.py``); ``tests/models/test_fuxictr_equivalence.py`` restates its equations and checks the
logits and the parameter count. What still differs from FuxiCTR, and why:

- vocabularies: id 0 of a categorical field is the out-of-vocabulary id, a learned row like any
  other; FuxiCTR keeps row 0 for padding (zero, never trained) and puts the out-of-vocabulary id
  last. The feature stage owns the vocabularies; the model only sizes its tables by them.
- sequence fields are pooled by ``nn.EmbeddingBag(mode="mean")`` over the non-padding ids;
  FuxiCTR averages over the ids whose embedding is not all zero (+1e-12). The same unless a
  trained row is exactly zero.
- the training loss is BCE on the logit (``BCEWithLogitsLoss``); FuxiCTR applies the sigmoid,
  then BCE: the same function, computed more stably.
- ``LogitCalibration`` (identity until fitted) and ``exclude_fields`` are this project's.

(Gates reading the model's own embeddings of their context fields, this project's earlier variant,
lost to FuxiCTR's own tables on the full valid split and were removed: finalmlp pipeline README.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from book_recs.models.params import config_from_params


@dataclass(frozen=True)
class FinalMLPConfig:
    """The architecture of a FinalMLP (defaults: the paper's published widths; the parameter
    files in ``conf/`` set every value).

    Attributes:
        embedding_dim: D.
        mlp1_hidden_units, mlp1_dropout, mlp1_batch_norm: the first (user) stream.
        mlp2_hidden_units, mlp2_dropout, mlp2_batch_norm: the second (item) stream.
        use_gating: Feature gating per stream (off for DualMLP).
        fs_hidden_units: Hidden widths of each gate MLP.
        fs1_context, fs2_context: Field names or glob patterns that feed each gate (embedded by
            the gate's own tables, as in FuxiCTR; the embedding L2 covers them); ``None`` takes
            the fields whose spec context is ``user`` / ``item``; ``()`` a learned vector (the
            paper's default when no context is given).
        num_heads: Heads of the bilinear fusion; both stream widths must divide by it.
        fusion: ``bilinear`` (FinalMLP) or ``additive`` (DualMLP: w1·o1 + w2·o2 + b).
        exclude_fields: Field names or glob patterns the model does not read (e.g.
            ``("Book-Title_*",)``): the model-input table keeps them for the other models.

    >>> FinalMLPConfig.from_params({"embedding_dim": 4, "mlp1_hidden_units": [8]}).mlp1_hidden_units
    (8,)
    """

    embedding_dim: int = 10
    mlp1_hidden_units: tuple[int, ...] = (400,)
    mlp1_dropout: float = 0.0
    mlp1_batch_norm: bool = False
    mlp2_hidden_units: tuple[int, ...] = (800,)
    mlp2_dropout: float = 0.0
    mlp2_batch_norm: bool = False
    use_gating: bool = True
    fs_hidden_units: tuple[int, ...] = (800,)
    fs1_context: tuple[str, ...] | None = None
    fs2_context: tuple[str, ...] | None = None
    num_heads: int = 1
    fusion: Literal["bilinear", "additive"] = "bilinear"
    exclude_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("mlp1_hidden_units", "mlp2_hidden_units", "fs_hidden_units", "fs1_context",
                     "fs2_context", "exclude_fields"):
            value = getattr(self, name)
            if value is not None:  # YAML gives lists; a frozen config keeps tuples
                object.__setattr__(self, name, tuple(value))
        if self.fusion not in ("bilinear", "additive"):
            raise ValueError(f"fusion must be 'bilinear' or 'additive', got {self.fusion!r}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FinalMLPConfig:
        """The config of a parameters block (``params:<ns>.model``); unknown keys are refused."""
        return config_from_params(cls, params, "model")


class FinalMLP(nn.Module):
    """FinalMLP (Mao et al., AAAI 2023) over the fields described by ``specs``.

    Args:
        specs: The feature schema (one FeatureSpec per model-input field).
        config: The architecture.

    ``input_specs`` are the fields it reads (``specs`` without ``config.exclude_fields``): build
    its input with ``data.to_tensors(frame, model.input_specs)``.

    Input: ``{"numeric": (B, Fn), "categorical": (B, Fc), ...}`` laid out by ``input_specs``;
    output: logits (B,).

    A pickled FinalMLP holds its specs, config and a CPU copy of its weights, so a model trained
    on a GPU loads on a machine without one.

    >>> specs = [FeatureSpec("Age", "numeric", context="user"), FeatureSpec("a", "categorical", 9)]
    >>> model = FinalMLP(specs, FinalMLPConfig(embedding_dim=4, mlp1_hidden_units=[8],
    ...                  mlp2_hidden_units=[8], fs_hidden_units=[8], num_heads=2))
    >>> model({"numeric": torch.rand(3, 1), "categorical": torch.ones(3, 1, dtype=torch.long)}).shape
    torch.Size([3])
    """

    def __init__(self, specs: Sequence[FeatureSpec], config: FinalMLPConfig = FinalMLPConfig()) -> None:
        super().__init__()
        self.specs = list(specs)
        self.config = config
        self.input_specs = drop_fields(self.specs, config.exclude_fields)
        if not self.input_specs:
            raise ValueError(f"exclude_fields {list(config.exclude_fields)} leaves no field to read")
        self.field_names = [s.name for s in self.input_specs]
        dim = config.embedding_dim
        self.embedding = FeatureEmbedding(self.input_specs, dim)
        num_fields = len(self.field_names)
        self.gates = None
        if config.use_gating:
            self.gates = nn.ModuleList(
                self._gate(side, patterns) for side, patterns in
                (("user", config.fs1_context), ("item", config.fs2_context)))
        flat_dim = num_fields * dim
        self.mlp1 = MLPStream(flat_dim, config.mlp1_hidden_units, config.mlp1_dropout,
                              config.mlp1_batch_norm)
        self.mlp2 = MLPStream(flat_dim, config.mlp2_hidden_units, config.mlp2_dropout,
                              config.mlp2_batch_norm)
        self.fusion = BilinearFusion(self.mlp1.out_dim, self.mlp2.out_dim, config.num_heads,
                                     bilinear=config.fusion == "bilinear")
        self.calibration = LogitCalibration()
        self._init_linear_layers()
        # What pair scoring reads on every call (a served library request makes one per reader):
        # which fields are the user's (F,), and the side a gate's context strays from, if any.
        self._user_fields = torch.tensor([spec.context == "user" for spec in self.input_specs])
        sides = {spec.name: spec.context for spec in self.input_specs}
        self._mixed_gate = next(
            (side for gate, side in zip(self.gates or (), ("user", "item"))
             if gate.context_embedding is not None
             and any(sides[name] != side for name in gate.context_embedding.field_names)), None)

    def _gate(self, side: str, patterns: Sequence[str] | None) -> FeatureGating:
        """The gate of one stream, with its own embedding of its context fields. Patterns are
        checked against every input field; excluded fields drop out of the context (one left
        empty becomes the learned vector)."""
        if patterns is None:
            patterns = [s.name for s in self.input_specs if s.context == side]
        ordered = field_order(self.specs)
        selected = {ordered[i].name for i in select_fields(self.specs, patterns)}
        context = [name for name in self.field_names if name in selected]
        own_embedding = (FeatureEmbedding(self.input_specs, self.config.embedding_dim, fields=context)
                         if context else None)
        return FeatureGating(len(self.field_names), self.config.embedding_dim, own_embedding,
                             self.config.fs_hidden_units)

    def _init_linear_layers(self) -> None:
        """Xavier-normal weights and zero biases for every linear layer (FuxiCTR's
        ``reset_parameters``; batch norm keeps torch's ones and zeros, as there)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def streams(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Stream outputs o1 (B, d1), o2 (B, d2) and gates (B, F·D) each (None without gating)."""
        embeddings = self.embedding(inputs)
        if self.gates is None:
            flat = embeddings.flatten(1)
            return self.mlp1(flat), self.mlp2(flat), None, None
        x1, gate1 = self.gates[0](inputs, embeddings)
        x2, gate2 = self.gates[1](inputs, embeddings)
        return self.mlp1(x1), self.mlp2(x2), gate1, gate2

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        o1, o2, _, _ = self.streams(inputs)
        return self.calibration(self.fusion(o1, o2))

    # ------------------------------------------------------------ users x a fixed set of items
    def item_side(self, items: dict[str, Tensor]) -> dict[str, Tensor]:
        """What scoring users against a fixed set of K items computes once (``pair_logits``):
        the items' embeddings (K, F, D) and, with gating, the item gate (K, F·D). The values of
        the user fields in ``items`` are not read.

        Raises:
            ValueError: A gate's context mixes the two sides (it could not be computed per side).
        """
        if self._mixed_gate is not None:
            raise ValueError(f"the {self._mixed_gate} gate's context reads fields of the other side")
        embeddings = self.embedding(items)
        cached = {"embeddings": embeddings}
        if self.gates is not None:
            cached["item_gate"] = self.gates[1](items, embeddings)[1]
        return cached

    def pair_logits(self, users: dict[str, Tensor], item_side: dict[str, Tensor]) -> Tensor:
        """Logits (R, K) of R users (their rows of the item fields are not read) for every item
        of ``item_side``, in eval mode: ``forward`` of the R·K rows that pair them, with each
        gate computed once per user or per item instead of once per row.

        >>> specs = [FeatureSpec("Age", "numeric", context="user"),
        ...          FeatureSpec("a", "categorical", 9)]
        >>> model = FinalMLP(specs, FinalMLPConfig(embedding_dim=4, mlp1_hidden_units=[8],
        ...                  mlp2_hidden_units=[8], fs_hidden_units=[8], num_heads=2)).eval()
        >>> items = {"numeric": torch.zeros(5, 1), "categorical": torch.arange(5)[:, None]}
        >>> users = {"numeric": torch.rand(2, 1), "categorical": torch.zeros(2, 1, dtype=torch.long)}
        >>> model.pair_logits(users, model.item_side(items)).shape
        torch.Size([2, 5])
        """
        user_embeddings = self.embedding(users)                       # (R, F, D)
        item_embeddings = item_side["embeddings"]                     # (K, F, D)
        user_fields = self._user_fields.to(user_embeddings.device)   # on a GPU too
        rows = torch.where(user_fields[:, None], user_embeddings[:, None],
                           item_embeddings[None])                     # (R, K, F, D)
        flat = rows.flatten(2)                                        # (R, K, F·D)
        if self.gates is None:
            x1 = x2 = flat
        else:
            x1 = flat * self.gates[0](users, user_embeddings)[1][:, None]
            x2 = flat * item_side["item_gate"]
        o1, o2 = self.mlp1(x1.flatten(0, 1)), self.mlp2(x2.flatten(0, 1))
        return self.calibration(self.fusion(o1, o2)).view(len(user_embeddings), -1)

    def embedding_l2(self) -> Tensor:
        """Squared L2 norm of every embedding parameter, the gates' own context tables included
        (FuxiCTR's embedding_regularizer covers every ``FeatureEmbeddingDict``)."""
        tables = [self.embedding] + [gate.context_embedding for gate in self.gates or ()
                                     if gate.context_embedding is not None]
        return sum(parameter.pow(2).sum() for table in tables for parameter in table.parameters())

    def __getstate__(self) -> dict[str, Any]:
        return {"specs": self.specs, "config": self.config, "training": self.training,
                "weights": {name: tensor.detach().cpu() for name, tensor in self.state_dict().items()}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        with torch.random.fork_rng(devices=[]):  # rebuilding must not move the caller's RNG
            self.__init__(state["specs"], state["config"])
        self.load_state_dict(state["weights"])
        self.train(state["training"])
