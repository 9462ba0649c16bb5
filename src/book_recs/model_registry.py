"""Every model the project trains and compares, in one place (plain Python, no Kedro).

The pipelines read this registry instead of keeping their own lists: ``finalmlp`` and ``baselines``
build one namespace per model they train, ``evaluation`` one per model, ``reporting`` compares the
reference against every other model and draws the calibration of the probability models. Each
model ``ns`` writes ``ns.scores_valid`` / ``ns.scores_test``; a new model is one entry here plus
the pipeline that trains it.

Example:
    >>> [model.name for model in trained_by("finalmlp")]
    ['finalmlp', 'dualmlp']
    >>> REFERENCE_MODEL
    'finalmlp'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["reference", "ablation", "baseline"]


@dataclass(frozen=True)
class ModelEntry:
    """One compared model.

    Attributes:
        name: Its namespace (``name.model``, ``name.scores_test``, ``params:name.model`` ...).
        kind: What it is; the training pipeline builds its template from this.
        pipeline: The pipeline that trains and scores it (``finalmlp`` or ``baselines``).
        has_probability: Its score table has a ``probability`` column (logloss, calibration).
        role: ``reference`` (the model under test, compared against every other), ``ablation``
            (the reference without what it claims matters) or ``baseline``.
    """

    name: str
    kind: Literal["finalmlp", "catboost_ranker", "catboost_classifier", "popularity", "random"]
    pipeline: Literal["finalmlp", "baselines"]
    has_probability: bool
    role: Role


MODELS = (
    ModelEntry("finalmlp", "finalmlp", "finalmlp", has_probability=True, role="reference"),
    # The same code with gating off and additive fusion (conf parameters `dualmlp`).
    ModelEntry("dualmlp", "finalmlp", "finalmlp", has_probability=True, role="ablation"),
    ModelEntry("catboost_ranker", "catboost_ranker", "baselines", has_probability=False,
               role="baseline"),
    ModelEntry("catboost_classifier", "catboost_classifier", "baselines", has_probability=True,
               role="baseline"),
    ModelEntry("popularity", "popularity", "baselines", has_probability=True, role="baseline"),
    ModelEntry("random", "random", "baselines", has_probability=False, role="baseline"),
)
MODEL_NAMES = tuple(model.name for model in MODELS)
(REFERENCE_MODEL,) = (model.name for model in MODELS if model.role == "reference")
PROBABILITY_MODELS = tuple(model.name for model in MODELS if model.has_probability)

# What every training pipeline reads, shared by all model namespaces (never namespaced).
SHARED_INPUTS = frozenset({"model_input_train@batches", "model_input_train@pandas", "model_input_valid@pandas",
                           "model_input_test@pandas", "feature_specs"})


def trained_by(pipeline: str) -> tuple[ModelEntry, ...]:
    """The models one pipeline trains, in registry order."""
    return tuple(model for model in MODELS if model.pipeline == pipeline)


# The reader's-library protocol (pipelines ``library_protocol`` and ``library_recommender``, in
# namespace ``library``): the top-N anchors (book_recs.topn), each ``library.<name>``, and the
# recommender that reads the library, compared against every anchor.
LIBRARY_ANCHORS = ("popularity", "item_knn", "ease", "als")
LIBRARY_REFERENCE = "recommender"
LIBRARY_MODEL_NAMES = (LIBRARY_REFERENCE, *LIBRARY_ANCHORS)
