"""The two-stage recommender and its MLflow Model (plain Python, no Kedro): candidates fitted on
train (``candidates``), the recommender that ranks them for each reader (``recommender``), its
top-N evaluation (``evaluation``), its MLflow signature (``mlflow_model``) and the
``book-recs recommend`` command (``cli``). See docs/serving.md."""

from .candidates import CandidateConfig, select_candidates
from .recommender import InvalidRequest, Recommender

__all__ = ["CandidateConfig", "InvalidRequest", "Recommender", "select_candidates"]
