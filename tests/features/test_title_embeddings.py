"""The title encoder: device option, cache keys, and bit-identical vectors whatever the batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from book_recs.devices import resolve_device
from book_recs.features.title_embeddings import (
    MAX_AUTO_WORKERS,
    MIN_TITLES_FOR_POOL,
    TOKENS_PER_BATCH,
    TitleEncoder,
    add_title_embeddings,
    empty_title_cache,
    encoder_key,
    load_title_encoder,
    title_matrix,
)

# Real titles of 8 token lengths: Dune and Timeline have 3 tokens, Wild Animus and Le Petit Prince 5.
TITLES = ["Dune", "Wild Animus", "The Da Vinci Code", "El Principito", "Le Petit Prince",
          "Harry Potter and the Sorcerer's Stone", "The Lovely Bones: A Novel",
          "Where the Heart Is (Oprah's Book Club (Paperback))", "Jurassic Park", "Timeline"]


@pytest.fixture(scope="module")
def encoder():
    return load_title_encoder("all-MiniLM-L6-v2", "cpu")


def fake_gpu(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


# ---------------------------------------------------------------- device option
@pytest.mark.parametrize(("gpus", "expected"), [(0, "cpu"), (1, "cuda")])
def test_auto_picks_cuda_only_when_torch_sees_a_gpu(monkeypatch, gpus, expected):
    fake_gpu(monkeypatch, gpus)
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device("cpu") == torch.device("cpu")


def test_named_gpus_resolve_when_present_and_fail_loudly_otherwise(monkeypatch):
    fake_gpu(monkeypatch, 2)
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="sees 2 GPU"):
        resolve_device("cuda:2")
    fake_gpu(monkeypatch, 0)
    with pytest.raises(ValueError, match="no GPU"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["gpu", "mps", "cpu:0", "", "CUDA"])
def test_other_device_names_are_refused(name):
    with pytest.raises(ValueError, match="auto | cpu"):
        resolve_device(name)


def test_the_device_type_and_the_numerics_are_part_of_the_cache_key(monkeypatch):
    fake_gpu(monkeypatch, 1)
    assert encoder_key("all-MiniLM-L6-v2", "cpu") == \
        "all-MiniLM-L6-v2|float32-512-token-batches|cpu-strict-avx2"
    assert encoder_key("sentence-transformers/all-MiniLM-L6-v2", "auto") == \
        encoder_key("all-MiniLM-L6-v2", "cuda:0") == "all-MiniLM-L6-v2|float32-512-token-batches|cuda"
    assert encoder_key("my/model", "cpu") == "my/model|float32-512-token-batches|cpu-strict-avx2"
    monkeypatch.setenv("BOOK_RECS_NUMERICS", "fast")
    monkeypatch.setattr("torch.backends.cpu.get_cpu_capability", lambda: "AVX512")
    assert encoder_key("my/model", "cpu") == "my/model|float32-512-token-batches|cpu-fast-avx512"


def test_the_loader_puts_the_model_on_the_resolved_device(monkeypatch):
    loaded = {}

    class FakeSentenceTransformer:
        def __init__(self, name, device, **kwargs):
            loaded.update(name=name, device=device, **kwargs)

    monkeypatch.setattr("sentence_transformers.SentenceTransformer", FakeSentenceTransformer)
    fake_gpu(monkeypatch, 1)
    load_title_encoder("paraphrase-multilingual-MiniLM-L12-v2", "auto")
    assert loaded == {"name": "paraphrase-multilingual-MiniLM-L12-v2", "device": "cuda"}
    load_title_encoder("all-MiniLM-L6-v2", "cpu")
    assert loaded["name"].endswith("model") and loaded["device"] == "cpu"
    assert loaded["local_files_only"] is True


# ---------------------------------------------------------------- cache
class RecordingEncoder:
    """Fake encoder: a title's vector is its length and its first letter's code."""

    def __init__(self, scale: float = 1.0) -> None:
        self.calls: list[list[str]] = []
        self.scale = scale

    def encode(self, titles, **kwargs):
        self.calls.append(list(titles))
        return self.scale * np.array([[len(t), ord(t[0])] for t in titles], dtype=np.float32)


def test_cached_titles_are_never_encoded_again():
    fake = RecordingEncoder()
    cache = add_title_embeddings(empty_title_cache(), ["b", "a", "b", None], "k", lambda: fake)
    assert fake.calls == [["a", "b"]]
    grown = add_title_embeddings(cache, ["a", "c", "b", "c"], "k", lambda: fake)
    assert fake.calls == [["a", "b"], ["c"]]
    loads = []
    add_title_embeddings(grown, ["c", "a"], "k", lambda: loads.append(1) or fake)
    assert loads == []  # nothing new: the model is not even loaded


def test_keys_never_mix():
    cache = add_title_embeddings(empty_title_cache(), ["a", "b"], "old", RecordingEncoder)
    fake = RecordingEncoder(scale=2.0)
    both = add_title_embeddings(cache, ["a", "c"], "new", lambda: fake)
    assert fake.calls == [["a", "c"]]  # "a" is cached under "old" only: encoded again
    np.testing.assert_array_equal(title_matrix(both, "new", pd.Series(["a"])), [[2, 194]])
    np.testing.assert_array_equal(title_matrix(both, "old", pd.Series(["a"])), [[1, 97]])
    assert np.isnan(title_matrix(both, "old", pd.Series(["c"]))).all()


# ---------------------------------------------------------------- real encoder
def test_every_batch_has_the_fixed_shape_of_its_token_length(encoder, monkeypatch):
    lengths = encoder.token_lengths(TITLES)
    assert lengths.tolist() == [len(encoder.model.tokenizer(t)["input_ids"]) for t in TITLES]
    calls = []
    encode = encoder.model.encode

    def recording_encode(titles, batch_size, **kwargs):
        calls.append((len(titles), batch_size,
                      {len(encoder.model.tokenizer(t)["input_ids"]) for t in titles}))
        return encode(titles, batch_size=batch_size, **kwargs)

    monkeypatch.setattr(encoder.model, "encode", recording_encode)
    encoder.encode(TITLES)
    # One call per token length L, of one batch of 512 // L rows (titles of L tokens only).
    assert calls == [(512 // n, 512 // n, {n}) for n in (3, 4, 5, 6, 7, 8, 10, 17)]


def test_a_titles_vector_is_the_same_bytes_in_any_company(encoder):
    vectors = encoder.encode(TITLES)
    sharing = [0, 1, 4, 9]  # the titles that share their batch with another title
    alone = np.stack([encoder.encode([TITLES[i]])[0] for i in sharing])
    shuffled = np.random.default_rng(0).permutation(len(TITLES))
    others = encoder.encode(["Emma", "A Painted House"] + [TITLES[i] for i in shuffled])
    assert vectors[sharing].tobytes() == alone.tobytes()
    assert vectors.tobytes() == others[2:][np.argsort(shuffled)].tobytes()
    assert vectors.dtype == np.float32 and vectors.shape == (len(TITLES), 384)


def test_vectors_match_the_plain_sentence_transformers_encoding(encoder):
    """Cosine > 0.999 with the previous way (the titles padded together in one encode call)."""
    padded = encoder.model.encode(TITLES, batch_size=128)
    vectors = encoder.encode(TITLES)
    assert (vectors * padded).sum(axis=1).min() > 0.999
    assert not np.array_equal(vectors, padded)  # the padding did move the last bits


def test_worker_processes_encode_the_same_bytes(encoder, monkeypatch):
    """Two single-thread workers, given whole batches of a length, give the in-process bytes."""
    titles = [f"Book {number}" for number in range(300)] + TITLES
    lengths, counts = np.unique(encoder.token_lengths(titles), return_counts=True)
    assert (counts > TOKENS_PER_BATCH // lengths).any()  # batches of one length for both workers
    started = []
    model_class = type(encoder.model)  # patched on the class: the model itself goes to the workers
    start_pool = model_class.start_multi_process_pool

    def recording_start(model, devices):
        started.append(devices)
        return start_pool(model, devices)

    monkeypatch.setattr(model_class, "start_multi_process_pool", recording_start)
    shared = TitleEncoder(encoder.model, processes=2).encode(titles)
    assert started == [["cpu", "cpu"]]
    assert shared.tobytes() == encoder.encode(titles).tobytes()


class OnDevice:
    """Stands in for a sentence-transformers model: only its device is read."""

    def __init__(self, device: str) -> None:
        self.device = torch.device(device)


def test_auto_starts_workers_only_for_many_titles_on_the_cpu():
    auto = TitleEncoder(OnDevice("cpu"), processes="auto")
    assert auto.worker_count(MIN_TITLES_FOR_POOL - 1) == 1
    assert auto.worker_count(MIN_TITLES_FOR_POOL) == min(torch.get_num_threads(), MAX_AUTO_WORKERS)
    assert TitleEncoder(OnDevice("cuda"), processes="auto").worker_count(10**6) == 1
    assert TitleEncoder(OnDevice("cpu"), processes=3).worker_count(5) == 3


@pytest.mark.parametrize(("device", "processes"), [("cpu", 0), ("cuda", 2)])
def test_impossible_worker_counts_are_refused(device, processes):
    with pytest.raises(ValueError, match="auto, 1, or more on the CPU"):
        TitleEncoder(OnDevice(device), processes=processes).worker_count(100)
