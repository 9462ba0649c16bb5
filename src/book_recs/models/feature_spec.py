"""The feature schema shared by the feature stage and the models: data, not code paths.

A ``FeatureSpec`` says how one column of a model-input table enters a model. The feature
engineering stage builds the list and saves it through the catalog; the models read it.

Column conventions in a model-input table (one column per spec, named ``spec.name``):

- ``categorical``: int64 ids in ``[0, vocab_size)``; id 0 is the out-of-vocabulary id
  (unseen or rarer than the min-count at fit time).
- ``numeric``: float32, already imputed and scaled (no NaN).
- ``sequence``: a list of int64 ids per row (multi-valued field such as genres); id 0 is padding
  and is ignored when pooling, so real ids start at 1 (id 1 is the out-of-vocabulary id).

Example:
    >>> FeatureSpec("Book-Author", "categorical", vocab_size=1200, context="item")
    FeatureSpec(name='Book-Author', kind='categorical', vocab_size=1200, context='item')
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FeatureKind = Literal["categorical", "numeric", "sequence"]
StreamContext = Literal["user", "item"]

OOV_ID = 0
"""Id of out-of-vocabulary (unseen or rare) values in categorical fields."""
PADDING_ID = 0
"""Id that pads sequence fields; ignored when pooling."""


@dataclass(frozen=True)
class FeatureSpec:
    """How one model-input column enters the model.

    Attributes:
        name: Column name in the model-input table.
        kind: ``categorical``, ``numeric`` or ``sequence``.
        vocab_size: Number of ids, the reserved id 0 included; 0 for numeric fields.
        context: Which side the field describes (``user`` or ``item``): the default gate
            context of FinalMLP's user stream and item stream.
    """

    name: str
    kind: FeatureKind
    vocab_size: int = 0
    context: StreamContext = "item"

    def __post_init__(self) -> None:
        if self.kind not in ("categorical", "numeric", "sequence"):
            raise ValueError(f"FeatureSpec {self.name!r}: unknown kind {self.kind!r}")
        if self.kind != "numeric" and self.vocab_size < 2:
            raise ValueError(
                f"FeatureSpec {self.name!r}: a {self.kind} field needs vocab_size >= 2 "
                f"(the reserved id 0 plus at least one value), got {self.vocab_size}"
            )
        if self.context not in ("user", "item"):
            raise ValueError(f"FeatureSpec {self.name!r}: context must be 'user' or 'item'")


def field_order(specs: Sequence[FeatureSpec]) -> list[FeatureSpec]:
    """The order of fields in every (B, F, D) tensor: numeric, then categorical, then sequence."""
    return [s for kind in ("numeric", "categorical", "sequence") for s in specs if s.kind == kind]


def select_fields(specs: Sequence[FeatureSpec], patterns: Sequence[str]) -> list[int]:
    """Indices (in ``field_order``) of the fields whose names match any glob pattern; a pattern
    that matches nothing is an error (a typo would otherwise silently select nothing).

    >>> specs = [FeatureSpec("Age", "numeric", context="user"), FeatureSpec("Book-Title_0", "numeric")]
    >>> select_fields(specs, ["Book-Title_*"])
    [1]
    """
    names = [s.name for s in field_order(specs)]
    unknown = [p for p in patterns if not fnmatch.filter(names, p)]
    if unknown:
        raise ValueError(f"field patterns {unknown} match no field; fields are {names}")
    return [i for i, name in enumerate(names) if any(fnmatch.fnmatchcase(name, p) for p in patterns)]


def drop_fields(specs: Sequence[FeatureSpec], patterns: Sequence[str]) -> list[FeatureSpec]:
    """``specs`` in ``field_order`` without the fields whose names match a glob pattern (an
    ``exclude_fields`` option: the model-input table keeps them, the model does not read them).

    >>> [s.name for s in drop_fields([FeatureSpec("Age", "numeric"), FeatureSpec("Book-Title_0", "numeric")],
    ...                              ["Book-Title_*"])]
    ['Age']
    """
    dropped = set(select_fields(specs, patterns))
    return [s for i, s in enumerate(field_order(specs)) if i not in dropped]
