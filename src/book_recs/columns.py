"""Names of the columns every interaction table of the project shares: the cleaned ratings, the
model-input tables and the score tables (one row per user and book)."""

USER_COLUMN = "User-ID"
BOOK_COLUMN = "ISBN"
RATING_COLUMN = "Book-Rating"
LABEL_COLUMN = "label"
"""1 when the rating is above ``positive_rating_threshold`` (``data_processing``), else 0."""

KEY_COLUMNS = (USER_COLUMN, BOOK_COLUMN, RATING_COLUMN, LABEL_COLUMN)
"""What identifies and judges one row: kept in every model-input table, first in every score table."""
