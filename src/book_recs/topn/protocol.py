"""The reader's-library protocol's matrices: the train catalogue, the train readers' rows, every
reader's library and held-out targets, by split (strong generalisation).

Built from the protocol's rows (``User-ID``, ``ISBN``, ``Book-Rating``, ``label``, a split column
and a part column: the library or held out). The catalogue is the books of the train readers'
rows; the targets are the held-out rows with label 1, ISBNs outside the catalogue included (they
count as misses).

Example:
    >>> rows = pd.DataFrame({"User-ID": [1, 1, 2, 2, 2], "ISBN": ["a", "b", "a", "b", "c"],
    ...                      "Book-Rating": [9, 0, 8, 9, 10], "label": [1, 0, 1, 1, 1],
    ...                      "split": ["train", "train", "valid", "valid", "valid"],
    ...                      "part": ["library", "held_out", "library", "library", "held_out"]})
    >>> protocol = LibrarySplit.from_rows(rows, "split", "part", "library")
    >>> protocol.catalogue.isbns.tolist(), protocol.train.matrix.toarray().tolist()
    (['a', 'b'], [[2.0, 1.0]])
    >>> protocol.libraries["valid"].matrix.toarray().tolist()
    [[2.0, 2.0]]
    >>> protocol.targets["valid"]["ISBN"].tolist()
    ['c']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from book_recs.columns import BOOK_COLUMN, LABEL_COLUMN, USER_COLUMN

from .interactions import Catalogue, ReaderMatrix, reader_matrix

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class LibrarySplit:
    """The protocol's readers as matrices over the train catalogue.

    Attributes:
        catalogue: The books of the train readers' rows (every model ranks these).
        train: The train readers' rows, all of them (what the anchors fit on).
        libraries: Per split, each reader's library (train readers too: the (library, target)
            pairs a re-ranker learns from), rows in ``User-ID`` order.
        targets: Per split, ``User-ID`` and ``ISBN`` of the held-out books with label 1.
    """

    catalogue: Catalogue
    train: ReaderMatrix
    libraries: dict[str, ReaderMatrix]
    targets: dict[str, pd.DataFrame]

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, split_column: str, part_column: str,
                  library_part: str) -> LibrarySplit:
        """The matrices of the protocol's rows (see the module docstring)."""
        train_rows = rows[rows[split_column] == "train"]
        catalogue = Catalogue.from_interactions(train_rows)
        libraries, targets = {}, {}
        for split in SPLITS:
            rows_of_split = rows[rows[split_column] == split]
            in_library = (rows_of_split[part_column] == library_part).to_numpy()
            readers = np.unique(rows_of_split[USER_COLUMN].to_numpy())
            libraries[split] = reader_matrix(rows_of_split[in_library], catalogue, readers)
            held_out = rows_of_split[~in_library]
            targets[split] = held_out.loc[held_out[LABEL_COLUMN] == 1,
                                          [USER_COLUMN, BOOK_COLUMN]].reset_index(drop=True)
        return cls(catalogue, reader_matrix(train_rows, catalogue), libraries, targets)

    def judged_libraries(self, split: str) -> ReaderMatrix:
        """The libraries of the ``split`` readers with at least one target (those the metrics
        count)."""
        libraries = self.libraries[split]
        judged = np.isin(libraries.readers, self.targets[split][USER_COLUMN].unique())
        return ReaderMatrix(libraries.matrix[judged], libraries.readers[judged],
                            libraries.unknown_rows)

    def describe(self) -> str:
        """Per split for the log: readers, readers with a target, targets, and the targets
        outside the catalogue."""
        parts = []
        for split in SPLITS:
            targets = self.targets[split]
            outside = int((self.catalogue.columns_of(targets[BOOK_COLUMN]) < 0).sum())
            parts.append(f"{split}: {len(self.libraries[split].readers)} readers, "
                         f"{targets[USER_COLUMN].nunique()} with targets, {len(targets)} targets "
                         f"({outside} outside the catalogue)")
        return "; ".join(parts)
