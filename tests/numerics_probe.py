"""What tests/test_numerics.py runs in fresh processes: a 30-step FinalMLP training at the
paper's widths and a title encoding, printed as sha256 digests of the weight and vector bytes
(JSON on one line), with the kernels torch dispatched to.

    BOOK_RECS_NUMERICS=strict python -m tests.numerics_probe
"""

from __future__ import annotations

import hashlib
import json

import book_recs  # first: pins the numerics before torch loads

# isort: split
import numpy as np
import torch

from book_recs.features.title_embeddings import load_title_encoder
from book_recs.models.feature_spec import FeatureSpec
from book_recs.models.finalmlp import FinalMLP, FinalMLPConfig
from book_recs.models.training import TrainingConfig, fit, seed_everything

ROWS, BATCH = 30 * 512, 512
TITLES = ["The Lovely Bones: A Novel", "A Painted House", "Wild Animus", "Le Petit Prince",
          "Harry Potter and the Sorcerer's Stone (Book 1)", "Die Verwandlung", "Dune", "It"]


def trained_weights() -> bytes:
    """The weights after one epoch of 30 steps on seeded random rows."""
    rng = np.random.default_rng(0)
    specs = [FeatureSpec("Age", "numeric", context="user"),
             FeatureSpec("state", "categorical", 50, context="user"),
             FeatureSpec("Book-Author", "categorical", 200), FeatureSpec("Publisher", "categorical", 100),
             *[FeatureSpec(f"Book-Title_{i}", "numeric") for i in range(16)]]
    rows = {"numeric": torch.from_numpy(rng.random((ROWS, 17), dtype=np.float32)),
            "categorical": torch.from_numpy(np.stack([rng.integers(0, size, ROWS)
                                                      for size in (50, 200, 100)], 1)),
            "label": torch.from_numpy((rng.random(ROWS) < 0.4).astype(np.float32))}
    config = TrainingConfig(epochs=1, batch_size=BATCH, progress_bar=False, seed=1, device="cpu")
    seed_everything(config.seed)
    model = FinalMLP(specs, FinalMLPConfig(
        mlp1_hidden_units=(400,), mlp1_dropout=0.4, mlp1_batch_norm=True, mlp2_hidden_units=(800,),
        mlp2_dropout=0.2, mlp2_batch_norm=True, fs_hidden_units=(800,), num_heads=10))
    model, _ = fit(model, rows, {name: tensor[:BATCH] for name, tensor in rows.items()}, config)
    return b"".join(tensor.numpy().tobytes() for tensor in model.state_dict().values())


def main() -> None:
    vectors = load_title_encoder("all-MiniLM-L6-v2", "cpu", processes=1).encode(TITLES)
    print(json.dumps({
        "numerics": book_recs.NUMERICS.mode,
        "aten": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "weights": hashlib.sha256(trained_weights()).hexdigest(),
        "titles": hashlib.sha256(np.ascontiguousarray(vectors).tobytes()).hexdigest(),
    }))


if __name__ == "__main__":
    main()
