"""Writes a Delphi run with Delphi's own code (eai-delphi's
`LatentCache.save_splits` and `save_config` from delphi/latents/cache.py):
licence texts tokenized by a model's tokenizer, and four latents computed
from the tokens (one dead), as `latents/{hookpoint}/{start}_{end}.safetensors`;
explanations as its pipeline writes them (`orjson.dumps` of the text into
`explanations/{hookpoint}_latent{i}.txt`). Prints, as JSON, what an import
must find, computed densely with numpy from the float16 values the cache
holds: per latent, its maximum, mean and density over every token, its
strongest windows' maxima and the activations of each window it fires in, and each window's text as the tokenizer decodes it.

Two hookpoints, `layers.3.mlp` and `layers.10.mlp` (the second with latent 0
doubled, latent 2 as it is, the others silent: Delphi cannot save an empty
split), so that their order is by layer, not name.
Windows are cut as the import cuts them: a shorter last window when the
context is not a multiple of the window.

Usage: write_delphi_cache.py OUT TOKENIZER_JSON WINDOW
"""
import importlib.machinery
import json
import pathlib
import sys
import types

import numpy as np
import orjson
import torch
from tokenizers import Tokenizer

# delphi/latents/__init__.py imports its FAISS and blob-storage helpers,
# which this check does not need (and which are not installed); the cache
# module itself is imported as it is.
import delphi

latents_package = types.ModuleType("delphi.latents")
latents_package.__path__ = [str(pathlib.Path(delphi.__file__).parent / "latents")]
latents_package.__spec__ = importlib.machinery.ModuleSpec("delphi.latents", None, is_package=True)
sys.modules["delphi.latents"] = latents_package
from delphi.config import CacheConfig  # noqa: E402
from delphi.latents.cache import LatentCache  # noqa: E402

out = pathlib.Path(sys.argv[1])
tokenizer = Tokenizer.from_file(sys.argv[2])
tokenizer.no_truncation()
tokenizer.no_padding()
window = int(sys.argv[3])
SEQUENCES, CONTEXT, WIDTH = 48, 64, 4
HOOKPOINTS = ["layers.3.mlp", "layers.10.mlp"]
LEVELS = [0.0, 0.5, 0.9, 0.99, 0.999]

text = " ".join(
    pathlib.Path("/usr/share/common-licenses", name).read_text(encoding="utf-8")
    for name in ["Apache-2.0", "GPL-3", "MPL-2.0", "LGPL-3", "Artistic"]
)
ids = tokenizer.encode(text, add_special_tokens=False).ids[: SEQUENCES * CONTEXT]
tokens = torch.tensor(ids, dtype=torch.int64).reshape(SEQUENCES, CONTEXT)
pieces = [tokenizer.id_to_token(i) for i in range(tokenizer.get_vocab_size())]

dense = np.zeros((SEQUENCES, CONTEXT, WIDTH), dtype=np.float32)
rng = np.random.default_rng(0)
for s in range(SEQUENCES):
    for p in range(CONTEXT):
        piece = pieces[ids[s * CONTEXT + p]]
        if "licen" in piece:
            dense[s, p, 0] = 3.0 + (s * CONTEXT + p) % 5 * 0.25
        if piece.strip("#").isdigit():
            dense[s, p, 1] = 1.0 + int(piece.strip("#")[0]) / 7
        if rng.random() < 0.03:
            dense[s, p, 2] = rng.uniform(-1.0, 4.0)
# Latent 3 never fires; latent 2 is sometimes negative.

second = np.zeros_like(dense)
second[:, :, 0] = 2 * dense[:, :, 0]
second[:, :, 2] = dense[:, :, 2]
cache = LatentCache(model=None, hookpoint_to_sparse_encode={}, batch_size=4)
for hookpoint, values in zip(HOOKPOINTS, [dense, second]):
    locations = torch.nonzero(torch.from_numpy(values).abs() > 1e-5)
    activations = torch.from_numpy(values)[locations[:, 0], locations[:, 1], locations[:, 2]]
    cache.cache.latent_locations[hookpoint] = locations
    cache.cache.latent_activations[hookpoint] = activations
    cache.cache.tokens[hookpoint] = tokens
cache.width = WIDTH
(out / "latents").mkdir(parents=True)
cache.save_splits(n_splits=2, save_dir=out / "latents")
cache.save_config(
    out / "latents",
    CacheConfig(cache_ctx_len=CONTEXT, n_tokens=SEQUENCES * CONTEXT, n_splits=2),
    "sentence-transformers/all-MiniLM-L6-v2",
)
(out / "explanations").mkdir()
for latent, explanation in [(0, "the word licence"), (1, "digits"), (3, "nothing")]:
    path = out / "explanations" / f"{HOOKPOINTS[0]}_latent{latent}.txt"
    path.write_bytes(orjson.dumps(explanation))

# Windows as the import cuts them: (sequence, start, end).
windows = [
    (s, start, min(start + window, CONTEXT))
    for s in range(SEQUENCES)
    for start in range(0, CONTEXT, window)
]
expected = {}
for hookpoint, values in zip(HOOKPOINTS, [dense, second]):
    # What the cache holds: float16 values.
    held = values.astype(np.float16).astype(np.float32)
    expected[hookpoint] = {}
    for latent in range(WIDTH):
        acts = held[:, :, latent]
        if not np.any(acts):
            continue
        maxima = np.array([acts[s, a:b].max() for s, a, b in windows])
        wide = acts.astype(np.float64)
        expected[hookpoint][str(latent)] = {
            "firing": {
                str(w): acts[s, a:b].tolist()
                for w, (s, a, b) in enumerate(windows)
                if np.any(acts[s, a:b])
            },
            "max": float(acts.max()),
            "mean": float(wide.mean()),
            "variance": float((wide**2).mean() - wide.mean() ** 2),
            "density": float((acts > 0).mean()),
            "top_maxima": sorted(maxima[maxima > 0].tolist(), reverse=True)[:20],
            "quantile_boundaries": np.quantile(maxima, LEVELS).tolist(),
        }
texts = [tokenizer.decode(ids[s * CONTEXT + a : s * CONTEXT + b], skip_special_tokens=False) for s, a, b in windows]
print(json.dumps({"latents": expected, "window_texts": texts}))
