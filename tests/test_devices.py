"""Device names of the configuration."""

import pytest
import torch

from book_recs.devices import resolve_device


def test_auto_is_the_gpu_when_torch_sees_one_and_the_cpu_otherwise(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="'cuda:2'.*2 GPU"):
        resolve_device("cuda:2")


def test_a_gpu_torch_cannot_see_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda:0'.*no GPU"):
        resolve_device("cuda:0")
    assert resolve_device("cpu") == torch.device("cpu")
