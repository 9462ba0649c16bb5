"""book_recs: book recommendations on Book-Crossing with FinalMLP.

Importing the package pins how torch computes (``book_recs.numerics``: ``strict`` unless
``BOOK_RECS_NUMERICS=fast``) before anything of it imports torch.
"""

from book_recs.numerics import pin_numerics

__version__ = "0.1"

NUMERICS = pin_numerics()
"""The numerics of this process: what the package pinned when it was first imported."""
