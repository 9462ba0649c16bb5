"""Feature stage as plain Python (no Kedro): cached title embeddings, their PCA, and the Ibis
expressions that turn cleaned rows into model input with the tables fitted on train.

Score new rows with what the pipeline fitted (the catalog's ``title_components``,
``item_statistics``, ``statistics_priors``, ``vocabularies`` and ``scaling_statistics``):

    >>> model_input.build_model_input(rows, config, *fitted_tables)  # doctest: +SKIP
"""

from . import item_statistics, model_input, title_components
from .fields import FieldConfig, statistic_columns
from .title_embeddings import (
    DEFAULT_ENCODER,
    TitleEncoder,
    add_title_embeddings,
    empty_title_cache,
    encoder_key,
    load_title_encoder,
    title_matrix,
)

__all__ = [
    "DEFAULT_ENCODER",
    "FieldConfig",
    "TitleEncoder",
    "add_title_embeddings",
    "empty_title_cache",
    "encoder_key",
    "item_statistics",
    "load_title_encoder",
    "model_input",
    "statistic_columns",
    "title_components",
    "title_matrix",
]
