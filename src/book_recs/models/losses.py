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
    # Only pairs within a group are formed (sum of squared group sizes, not B^2): rows sorted by
    # group, then each row is paired with every row of its own run.
    order = torch.argsort(groups, stable=True)
    logits, groups, targets = logits[order], groups[order], targets[order]
    _, group_index, sizes = torch.unique_consecutive(groups, return_inverse=True, return_counts=True)
    starts = torch.cumsum(sizes, 0) - sizes
    pairs_of_row = sizes[group_index]
    first = torch.repeat_interleave(torch.arange(len(groups)), pairs_of_row)
    offset = torch.arange(len(first)) - torch.repeat_interleave(
        torch.cumsum(pairs_of_row, 0) - pairs_of_row, pairs_of_row)
    second = starts[group_index[first]] + offset
    ordered = targets[first] > targets[second]
    if not ordered.any():
        return logits.sum() * 0.0
    first, second = first[ordered], second[ordered]
    pair_group = group_index[first]
    pairs_per_group = torch.bincount(pair_group, minlength=len(sizes)).to(logits.dtype)
    pair_losses = functional.softplus(-(logits[first] - logits[second]))
    per_group = torch.zeros_like(pairs_per_group).index_add_(0, pair_group, pair_losses)
    has_pairs = pairs_per_group > 0
    return (per_group[has_pairs] / pairs_per_group[has_pairs]).mean()
