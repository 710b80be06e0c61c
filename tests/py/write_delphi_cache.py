"""Writes a Delphi run with Delphi's own code (eai-delphi's
`LatentCache.save_splits` and `save_config` from delphi/latents/cache.py):
licence texts tokenized by a model's tokenizer, and four latents computed
from the tokens (one dead), as `latents/{hookpoint}/{start}_{end}.safetensors`;
explanations as its pipeline writes them (`orjson.dumps` of the text into
`explanations/{hookpoint}_latent{i}.txt`). Prints, as JSON, what an import
must find, computed densely with numpy from the float16 values the cache
holds: per latent, its maximum, mean and density over every token, its
strongest windows' maxima and the activations of each window it fires in, and each window's text as the tokenizer decodes it.

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
SEQUENCES, CONTEXT, WIDTH = 12, 64, 4
HOOKPOINT = "layers.3.mlp"

text = " ".join(
    pathlib.Path("/usr/share/common-licenses", name).read_text(encoding="utf-8")
    for name in ["Apache-2.0", "GPL-3", "MPL-2.0"]
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

cache = LatentCache(model=None, hookpoint_to_sparse_encode={}, batch_size=4)
locations = torch.nonzero(torch.from_numpy(dense).abs() > 1e-5)
activations = torch.from_numpy(dense)[locations[:, 0], locations[:, 1], locations[:, 2]]
cache.cache.latent_locations[HOOKPOINT] = locations
cache.cache.latent_activations[HOOKPOINT] = activations
cache.cache.tokens[HOOKPOINT] = tokens
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
    path = out / "explanations" / f"{HOOKPOINT}_latent{latent}.txt"
    path.write_bytes(orjson.dumps(explanation))

# What the cache holds: float16 values.
held = dense.astype(np.float16).astype(np.float32)
expected = {}
for latent in range(WIDTH):
    values = held[:, :, latent]
    if not np.any(values):
        continue
    maxima = values.reshape(SEQUENCES, CONTEXT // window, window).max(axis=2).ravel()
    strongest = sorted(maxima[maxima > 0].tolist(), reverse=True)
    windows = values.reshape(-1, window)
    expected[str(latent)] = {
        "firing": {str(w): windows[w].tolist() for w in range(len(windows)) if np.any(windows[w])},
        "max": float(values.max()),
        "mean": float(values.astype(np.float64).mean()),
        "density": float((values > 0).mean()),
        "top_maxima": strongest[:20],
    }
texts = [
    tokenizer.decode(ids[w * window : (w + 1) * window], skip_special_tokens=False)
    for w in range(SEQUENCES * CONTEXT // window)
]
print(json.dumps({"latents": expected, "window_texts": texts}))
