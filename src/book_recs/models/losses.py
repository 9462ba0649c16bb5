"""Ranking losses that train the order of each user's books, beside the pointwise BCE.

gAUC and nDCG compare books of one reader; BCE alone also spends capacity on how lenient each
reader is (the user fields), which orders users, not books. These losses see only the
differences between books of the same user.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional


def pairwise_ranking_loss(logits: Tensor, groups: Tensor, targets: Tensor) -> Tensor:
    """RankNet loss over the pairs of rows of one group whose targets differ.

    For each such pair (i, j) with ``targets[i] > targets[j]`` the loss is
    ``log(1 + exp(-(logits[i] - logits[j])))``. Each group's pairs are averaged, then the groups
    are averaged, so a reader with 500 books in the batch weighs as much as one with 2.

    Args:
        logits: (B,) scores.
        groups: (B,) group id per row (the user).
        targets: (B,) graded relevance per row (e.g. the rating).

    Returns:
        A scalar; 0 (with a gradient of 0) when no group has two rows with different targets.

    >>> pairwise_ranking_loss(torch.tensor([2.0, 0.0]), torch.tensor([7, 7]), torch.tensor([9., 3.]))
    tensor(0.1269)
    """
    same_group = groups[:, None] == groups[None, :]
    ordered = same_group & (targets[:, None] > targets[None, :])  # (B, B): row i above row j
    if not ordered.any():
        return logits.sum() * 0.0
    _, group_index = torch.unique(groups, return_inverse=True)
    pairs_per_group = torch.zeros(int(group_index.max()) + 1, dtype=logits.dtype).index_add_(
        0, group_index, ordered.sum(1).to(logits.dtype))
    weights = ordered.to(logits.dtype) / pairs_per_group[group_index].clamp(min=1)[:, None]
    pair_losses = functional.softplus(-(logits[:, None] - logits[None, :]))
    return (pair_losses * weights).sum() / (pairs_per_group > 0).sum()
