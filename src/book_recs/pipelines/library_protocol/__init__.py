"""The reader's-library protocol: libraries and held-out books, the top-N anchors, their lists
and their evaluation, in namespace ``library``."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
