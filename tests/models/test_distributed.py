"""Data-parallel training in two CPU processes (gloo): it matches one process with the same global
batch, the same seed gives the same two-process model, process 0's model is returned, and it
pickles and scores like any other. (The second two-process run forks from the forkserver the
first one started: it costs the training, not another import of torch.)"""

import pickle

import numpy as np
import pytest
import torch

from book_recs.models.data import batches, to_tensors
from book_recs.models.distributed import train_models
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.inference import predict
from book_recs.models.training import TrainingConfig

from .conftest import SMALL, make_frame

CONFIG = TrainingConfig(seed=4, learning_rate=1e-2, batch_size=64, epochs=3, early_stop_patience=3,
                        lr_reduce_patience=3, progress_bar=False, device="cpu")


def test_two_processes_train_the_one_process_model_with_the_same_global_batch(specs):
    train = to_tensors(make_frame(1200, seed=1), specs)
    valid = to_tensors(make_frame(600, seed=2), specs)
    one, one_history = train_models(specs, SMALL, train, valid, CONFIG)
    in_two = TrainingConfig(**{**CONFIG.__dict__, "processes": 2})
    two, two_history = train_models(specs, SMALL, train, valid, in_two)
    assert isinstance(two, FinalMLP) and not two.training
    assert two_history["valid_auc"].iloc[-1] == pytest.approx(one_history["valid_auc"].iloc[-1], abs=0.002)
    # Not the same float sums (gradients averaged across processes), but the same model up to rounding.
    assert not all(torch.equal(a, b) for a, b in zip(one.state_dict().values(), two.state_dict().values()))
    again, _ = train_models(specs, SMALL, train, valid, in_two)
    assert all(torch.equal(a, b) for a, b in zip(two.state_dict().values(), again.state_dict().values()))
    loaded = pickle.loads(pickle.dumps(two))
    assert np.array_equal(predict(loaded, valid), predict(two, valid))


def test_the_processes_share_out_every_global_batch():
    """Step t of two processes with local batch b covers the rows of step t of one process with
    batch 2b (12 rows: no step is padded)."""
    tensors = {"numeric": torch.arange(12.0).view(-1, 1)}
    order_of = lambda **kwargs: [b["numeric"].view(-1).tolist()  # noqa: E731
                                 for b in batches(tensors, generator=torch.Generator().manual_seed(0), **kwargs)]
    whole = order_of(batch_size=4)
    first, second = order_of(batch_size=2, num_replicas=2, rank=0), order_of(batch_size=2, num_replicas=2, rank=1)
    assert [sorted(a + b) for a, b in zip(first, second)] == [sorted(step) for step in whole]
