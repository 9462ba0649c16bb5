"""Model-input tensors and batches: user and rating tensors, user-grouped shuffling."""

import torch

from book_recs.models.data import batches, to_tensors

from .conftest import make_frame


def test_user_grouped_batches_keep_users_together_and_cover_every_row(specs):
    frame = make_frame(200, seed=4)
    tensors = to_tensors(frame, specs)
    generator = torch.Generator().manual_seed(0)
    order = torch.cat([b["user"] for b in batches(tensors, 16, generator, group_key="user")])
    assert sorted(order.tolist()) == sorted(tensors["user"].tolist())
    # Each user's rows form one run: the number of runs equals the number of users.
    runs = 1 + int((order[1:] != order[:-1]).sum())
    assert runs == tensors["user"].unique().numel()
    again = torch.cat([b["user"] for b in batches(tensors, 16, torch.Generator().manual_seed(0), "user")])
    assert torch.equal(order, again)


def test_user_and_rating_tensors_follow_the_table(specs):
    frame = make_frame(20, seed=5)
    tensors = to_tensors(frame, specs)
    assert torch.equal(tensors["rating"], torch.tensor(frame["Book-Rating"].to_numpy(), dtype=torch.float32))
    codes = tensors["user"].numpy()
    same_user = frame["User-ID"].to_numpy()[:, None] == frame["User-ID"].to_numpy()[None, :]
    assert ((codes[:, None] == codes[None, :]) == same_user).all()
