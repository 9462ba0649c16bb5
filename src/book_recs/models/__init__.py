"""FinalMLP in plain PyTorch, no Kedro here. One room per job:

- ``feature_spec``, ``data``, ``streaming``: the schema, tables to tensors, batches, parquet streams;
- ``layers``, ``finalmlp``, ``ensemble``, ``losses``: the model;
- ``training`` (``TrainingConfig``, ``fit``, ``fit_ensemble``), ``distributed`` (several processes);
- ``inference`` (``predict``), ``calibration`` (Platt scaling), ``explanations`` (stream shares,
  gate means), ``metrics`` (what training logs);
- ``params``: the typed configs' construction from parameter blocks.
"""

from book_recs.models.feature_spec import OOV_ID, PADDING_ID, FeatureSpec
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.layers import BilinearFusion, FeatureEmbedding, FeatureGating, MLPStream

__all__ = ["OOV_ID", "PADDING_ID", "BilinearFusion", "FeatureEmbedding", "FeatureGating",
           "FeatureSpec", "FinalMLP", "FinalMLPConfig", "MLPStream"]
