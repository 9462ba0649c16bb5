"""FinalMLP in plain PyTorch: layers, model, data, training. No Kedro here."""

from book_recs.models.feature_spec import OOV_ID, PADDING_ID, FeatureSpec
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.layers import BilinearFusion, FeatureEmbedding, FeatureGating, MLPStream

__all__ = ["OOV_ID", "PADDING_ID", "BilinearFusion", "FeatureEmbedding", "FeatureGating",
           "FeatureSpec", "FinalMLP", "MLPStream"]
