"""Top-N from a reader's library: the catalogue, the anchors (Popularity, item-kNN, EASE, ALS),
their shared top-N and their hyper-parameters chosen on valid; plain Python, no Kedro."""

from .interactions import (
    HELD,
    LIKED,
    Catalogue,
    ReaderMatrix,
    library_row,
    reader_matrix,
    weigh,
)
from .models import ALS, EASE, ItemKNN, Popularity, TopNModel
from .protocol import LibrarySplit
from .ranking import NOT_RECOMMENDED, recommendation_table, top_n
from .tuning import GridSearch, choose_parameters, model_top_n_metrics

__all__ = ["ALS", "EASE", "HELD", "LIKED", "NOT_RECOMMENDED", "Catalogue", "GridSearch", "ItemKNN",
           "LibrarySplit", "Popularity", "ReaderMatrix", "TopNModel", "choose_parameters",
           "library_row", "model_top_n_metrics", "reader_matrix", "recommendation_table", "top_n",
           "weigh"]
