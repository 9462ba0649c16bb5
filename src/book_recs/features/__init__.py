"""Feature stage as plain Python (no Kedro): cached title embeddings and train-fitted transformers.

Score new rows with what the pipeline fitted (``feature_transformers`` in the catalog):

    >>> model_input = build_model_input(rows, title_embeddings, transformers)  # doctest: +SKIP
"""

from .item_statistics import ItemStatistics, statistic_columns
from .title_embeddings import (
    DEFAULT_ENCODER,
    TitleEncoder,
    add_title_embeddings,
    empty_title_cache,
    encoder_key,
    load_title_encoder,
    title_matrix,
)
from .transformers import (
    FeatureTransformers,
    FieldConfig,
    build_model_input,
    build_train_model_input,
    category_tokens,
)

__all__ = [
    "DEFAULT_ENCODER",
    "FeatureTransformers",
    "FieldConfig",
    "ItemStatistics",
    "TitleEncoder",
    "add_title_embeddings",
    "build_model_input",
    "build_train_model_input",
    "category_tokens",
    "empty_title_cache",
    "encoder_key",
    "load_title_encoder",
    "statistic_columns",
    "title_matrix",
]
