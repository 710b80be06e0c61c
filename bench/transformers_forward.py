"""The peer for the extraction benchmark: Hugging Face transformers running
only the forward pass of the same model on the same windows (the corpus cut
as featurescope cuts it: [CLS] + up to 62 text tokens + [SEP]), in batches
padded to their longest window, with the MLP activations of the same layers
hooked out (and nothing done with them). Set up as fast as it goes: the
blocks after the last hooked layer and the pooler are dropped (as
featurescope stops there too), on THREADS intra-op threads.

With SORTED=1 the windows are sorted by length before batching, as
featurescope does, so that batches hold little padding.

usage: transformers_forward.py MODEL_DIR CORPUS.jsonl LAYERS(1,4) WINDOW BATCH SORTED THREADS -> JSON"""
import json
import sys
import time

import torch
from tokenizers import Tokenizer
from transformers import AutoModel

model_dir, corpus, layers, window, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sort_by_length = sys.argv[6] == "1"
torch.set_num_threads(int(sys.argv[7]))
layers = [int(l) for l in layers.split(",")]
tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
tok.no_truncation()
tok.no_padding()
cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
windows = []
for line in open(corpus):
    if line.strip():
        ids = tok.encode(json.loads(line)["text"], add_special_tokens=False).ids
        windows += [[cls] + ids[i:i + window - 2] + [sep] for i in range(0, len(ids), window - 2)]

if sort_by_length:
    windows.sort(key=len)
model = AutoModel.from_pretrained(model_dir, add_pooling_layer=False).float().eval()
model.encoder.layer = model.encoder.layer[:max(layers) + 1]
kept = []
for layer in layers:
    model.encoder.layer[layer].output.dense.register_forward_pre_hook(lambda m, a: kept.append(a[0]))
tokens = sum(len(w) for w in windows)
start = time.perf_counter()
with torch.no_grad():
    for b in range(0, len(windows), batch):
        chunk = windows[b:b + batch]
        longest = max(len(w) for w in chunk)
        ids = torch.tensor([w + [0] * (longest - len(w)) for w in chunk])
        mask = torch.tensor([[1] * len(w) + [0] * (longest - len(w)) for w in chunk])
        model(input_ids=ids, attention_mask=mask)
        kept.clear()
elapsed = time.perf_counter() - start
print(json.dumps({"windows": len(windows), "tokens": tokens, "seconds": elapsed,
                  "tokens_per_second": tokens / elapsed, "threads": torch.get_num_threads(),
                  "torch": torch.__version__}))
