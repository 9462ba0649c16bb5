"""book_recs
"""

__version__ = "0.1"
