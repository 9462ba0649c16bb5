"""The within-user pairwise ranking loss against a per-pair loop, and its properties."""

import itertools
import math

import pytest
import torch

from book_recs.models.losses import pairwise_ranking_loss


def reference_loss(logits, groups, targets):
    """The definition, one pair at a time: RankNet per ordered pair, mean per group, mean of groups."""
    per_group = {}
    for i, j in itertools.permutations(range(len(logits)), 2):
        if groups[i] == groups[j] and targets[i] > targets[j]:
            per_group.setdefault(int(groups[i]), []).append(
                math.log1p(math.exp(-(float(logits[i]) - float(logits[j])))))
    return sum(sum(losses) / len(losses) for losses in per_group.values()) / len(per_group)


def test_it_equals_the_per_pair_definition():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(30, generator=generator)
    groups = torch.randint(0, 6, (30,), generator=generator)
    targets = torch.randint(1, 11, (30,), generator=generator).float()
    expected = reference_loss(logits, groups, targets)
    assert pairwise_ranking_loss(logits, groups, targets).item() == pytest.approx(expected, rel=1e-5)


def test_pairs_across_users_and_ties_do_not_count():
    logits = torch.tensor([5.0, -5.0, 0.0, 3.0])
    # Users 1 and 2 each rated one book (no pair); user 3 rated two books equally (a tie).
    no_pairs = pairwise_ranking_loss(logits, torch.tensor([1, 2, 3, 3]), torch.tensor([9., 2., 7., 7.]))
    assert no_pairs.item() == 0.0


def test_its_gradient_raises_the_better_book_and_lowers_the_worse():
    logits = torch.zeros(3, requires_grad=True)
    pairwise_ranking_loss(logits, torch.tensor([4, 4, 4]), torch.tensor([10., 5., 1.])).backward()
    assert logits.grad[0] < 0 < logits.grad[2]  # gradient descent raises book 0, lowers book 2


def test_every_user_weighs_the_same_whatever_its_number_of_books():
    # User 0: one misordered pair (loss log(1 + e)); user 1: six correctly ordered books.
    logits = torch.tensor([-1.0, 0.0] + [float(-k) for k in range(6)])
    groups = torch.tensor([0, 0] + [1] * 6)
    targets = torch.tensor([9., 2.] + [float(10 - k) for k in range(6)])
    loss = pairwise_ranking_loss(logits, groups, targets)
    user_1 = reference_loss(logits[2:], groups[2:], targets[2:])
    assert loss.item() == pytest.approx((math.log1p(math.e) + user_1) / 2, rel=1e-5)
