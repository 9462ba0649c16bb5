"""The user side of readers (Age, state, country) as the feature stage builds it, with no query
per request (no Kedro here).

``FittedFeatures.build(readers, side="user")`` defines it, and each of its columns is a function of
one profile field alone: a categorical field's id is its token's id in the fitted vocabulary (one
id for every token outside it), a numeric field is imputed, min-max scaled and clipped with the
fitted constants. A request used to run that expression on an in-process DuckDB: 4-7 ms of a
30 ms library request, nearly all of it DuckDB's fixed cost per query. ``UserSide.tabulate`` runs
it once instead, over every token of each categorical user field, a missing one and an unseen one,
and keeps the ids it answered; numeric fields apply ``ColumnScaling.apply``. A test holds the two
equal, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from book_recs.features import FieldConfig
from book_recs.features.model_input import ORDER_COLUMN, ColumnScaling, column_scalings

UNSEEN_TOKEN = "\x00unseen"
"""A token no vocabulary holds: what the expression answers for every token outside it."""


@dataclass(frozen=True)
class TokenIds:
    """What the user-side expression answered for each token of one categorical field.

    Attributes:
        tokens: The vocabulary's tokens.
        ids: Each token's id, row for row.
        missing_id: The id of a missing value.
        unseen_id: The id of any other token (the out-of-vocabulary id).
    """

    tokens: pd.Index
    ids: np.ndarray
    missing_id: int
    unseen_id: int

    def of(self, values: pd.Series) -> np.ndarray:
        """The ids of text ``values`` (missing where NA)."""
        positions = self.tokens.get_indexer(values)
        ids = np.where(positions >= 0, self.ids[np.maximum(positions, 0)], self.unseen_id)
        return np.where(values.isna().to_numpy(), self.missing_id, ids).astype(np.int64)


@dataclass(frozen=True)
class UserSide:
    """The user-side model input of readers' profiles, column for column as the expression.

    Attributes:
        columns: The expression's output columns, in its order.
        numeric: Each numeric column's profile field and fitted constants.
        categorical: Each categorical column's (= field's) token ids.
    """

    columns: tuple[str, ...]
    numeric: dict[str, tuple[str, ColumnScaling]]
    categorical: dict[str, TokenIds]

    @classmethod
    def tabulate(cls, user_side: Callable[[ir.Table], ir.Table], config: FieldConfig,
                 vocabularies: pd.DataFrame, scaling: pd.DataFrame,
                 profile_fields: dict[str, str]) -> UserSide:
        """Run ``user_side`` once over every token of each categorical user field, a missing and
        an unseen one.

        Args:
            user_side: Profiles (their fields and ``row_order``) -> their user-side model input:
                ``FittedFeatures.build(readers, side="user")``.
            config: The feature stage's field configuration.
            vocabularies: The fitted vocabularies' rows of the user fields.
            scaling: The fitted ``scaling_statistics`` table (one row).
            profile_fields: A profile's fields and their dtypes (``float64`` or ``string``).

        Raises:
            ValueError: A user column is neither a numeric field's nor a text field's id.
        """
        categorical = [field for field in config.categorical_fields
                       if config.context(field) == "user"]
        numeric = {config.numeric_column(field): field for field in config.numeric_fields
                   if config.context(config.numeric_column(field)) == "user"}
        if not all(profile_fields.get(field) == "string" for field in categorical):
            raise ValueError(f"user categorical fields {categorical} must be text fields of the "
                             f"profile {profile_fields}")
        if not all(profile_fields.get(field) == "float64" for field in numeric.values()):
            raise ValueError(f"user numeric fields {list(numeric.values())} must be number fields "
                             f"of the profile {profile_fields}")
        token_lists = {field: vocabularies.loc[vocabularies["field"] == field, "token"].tolist()
                       for field in categorical}
        if any(UNSEEN_TOKEN in tokens for tokens in token_lists.values()):
            raise ValueError(f"a vocabulary holds the token {UNSEEN_TOKEN!r}")
        # One block of rows per categorical field: its tokens, a missing and an unseen value; the
        # block's other fields are missing.
        blocks = [pd.DataFrame({field: pd.array([*tokens, None, UNSEEN_TOKEN], dtype="str")})
                  for field, tokens in token_lists.items()]
        domain = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(index=[0])
        domain = pd.DataFrame({
            field: (domain[field] if field in domain.columns else pd.array(
                [None] * len(domain), dtype="str" if dtype == "string" else dtype))
            for field, dtype in profile_fields.items()})
        domain[ORDER_COLUMN] = np.arange(len(domain), dtype=np.int64)
        answered = user_side(ibis.memtable(domain)).execute()
        if set(answered.columns) != {*numeric, *categorical}:
            raise ValueError(f"the user side's columns {list(answered.columns)} are not the user "
                             f"fields' {[*numeric, *categorical]}")
        lookups, start = {}, 0
        for field, tokens in token_lists.items():
            ids = answered[field].to_numpy()[start:start + len(tokens) + 2]
            lookups[field] = TokenIds(pd.Index(tokens, dtype="str"), ids[:-2].astype(np.int64),
                                      int(ids[-2]), int(ids[-1]))
            start += len(tokens) + 2
        constants = column_scalings(scaling)
        return cls(tuple(answered.columns),
                   {column: (field, constants[column]) for column, field in numeric.items()},
                   lookups)

    def features(self, profile: pd.DataFrame) -> pd.DataFrame:
        """The user side of readers (``profile``: their fields, typed as ``profile_fields``), in
        their order."""
        values = {column: scaling.apply(profile[field].to_numpy(dtype=np.float64, na_value=np.nan))
                  for column, (field, scaling) in self.numeric.items()}
        values.update({field: ids.of(profile[field]) for field, ids in self.categorical.items()})
        return pd.DataFrame({column: values[column] for column in self.columns})
