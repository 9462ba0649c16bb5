"""Streamed training batches: every row once per epoch, seeded, bounded by the shuffle buffer; the
trainer's stream mode learns as the memory mode does."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from book_recs.models.data import to_tensors
from book_recs.models.finalmlp import FinalMLP
from book_recs.models.inference import predict
from book_recs.models.streaming import ParquetBatches, streamed_batches
from book_recs.models.training import TrainingConfig, fit, seed_everything

from .conftest import SMALL, make_frame


@pytest.fixture
def source(tmp_path):
    frame = make_frame(300, seed=7).assign(row=lambda f: np.arange(len(f), dtype=np.float32))
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, row_group_size=40)  # 8 row groups
    return ParquetBatches(path), frame


def rows_of(batch_iterator):
    return [batch["numeric"][:, -1].long().tolist() for batch in batch_iterator]


def test_each_epoch_serves_every_row_once_in_full_batches_and_the_seed_fixes_the_order(specs, source):
    reader, frame = source
    row_specs = [*specs, dataclasses.replace(specs[0], name="row")]  # the row number, as a numeric field
    seen = rows_of(streamed_batches(reader, row_specs, 32, buffer_rows=100,
                                    generator=torch.Generator().manual_seed(0), device=torch.device("cpu")))
    assert sorted(sum(seen, [])) == list(range(len(frame)))
    assert all(len(rows) == 32 for rows in seen[:-1])
    again, other = (rows_of(streamed_batches(reader, row_specs, 32, buffer_rows=100, device=torch.device("cpu"),
                                             generator=torch.Generator().manual_seed(seed))) for seed in (0, 1))
    assert seen == again and seen != other


def test_user_grouped_streaming_keeps_a_buffers_users_together(specs, source):
    reader, frame = source
    batches = list(streamed_batches(reader, specs, 32, buffer_rows=1000, generator=torch.Generator().manual_seed(0),
                                    device=torch.device("cpu"), user_grouped=True))
    users = torch.cat([b["user"] for b in batches])  # one buffer: codes of one factorisation
    assert 1 + int((users[1:] != users[:-1]).sum()) == frame["User-ID"].nunique()


def test_stream_mode_trains_a_model_that_learns(specs, source):
    """(Its batches are seeded, above, and CPU training is deterministic: the same seed gives the
    same model.)"""
    reader, frame = source
    config = TrainingConfig(seed=3, learning_rate=1e-2, batch_size=32, epochs=3, early_stop_patience=3,
                            progress_bar=False, data_loading="stream", shuffle_buffer_rows=100)
    valid = to_tensors(frame, specs)
    seed_everything(config.seed)
    model, history = fit(FinalMLP(specs, SMALL), reader, valid, config)
    assert history["valid_auc"].max() > 0.85
    assert roc_auc_score(frame["label"], predict(model, valid)) == pytest.approx(history["valid_auc"].max())
    with pytest.raises(ValueError, match="ParquetBatches"):
        fit(FinalMLP(specs, SMALL), valid, valid, config)
