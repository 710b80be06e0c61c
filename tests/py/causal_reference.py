"""Reference for `featurescope experiment ablation` and `experiment
histogram`: Hugging Face transformers runs the GGUF subject model, with the
unit read (and for an ablation scaled) by hooks: an MLP neuron at the input
of its block's down projection, an SAE feature (SAELens's encode; its share
is that times its decoder row) in the block's output.

- An ablation's records (re-tokenised here by transformers' own GGUF
  tokenizer) run clean and with the unit scaled; at the positions where the
  unit fires, the mean change of every next token's log-probability and the
  mean KL(clean || scaled), in float64.
- A histogram's corpus is cut into windows as featurescope cuts it (BOS,
  then the document's tokens in chunks), each window run alone; the
  activations above zero binned in equal bins up to their maximum, counted
  per bin and per token id.

usage: causal_reference.py MODEL.gguf SAE_DIR DATASET SUMMARY.json...
  -> JSON, per summary: an ablation's {positions, mean_kl, at_ours: {token id:
     mean change}, kth_fall, kth_rise}, or a histogram's {windows, firing, max,
     bins: [{count, top: [[token id, count], ...]}]}"""
import json
import sys

import pyarrow.compute as pc
import pyarrow.dataset as pads
import torch
from sae_lens import SAE

import gguf_causal_lm

gguf, sae_dir, dataset = sys.argv[1:4]
summaries = [json.load(open(path)) for path in sys.argv[4:]]
torch.set_num_threads(2)
tokenizer, model = gguf_causal_lm.load(gguf, attn_implementation="eager")
sae = SAE.load_from_disk(sae_dir, device="cpu")
manifest = json.load(open(f"{dataset}/manifest.json"))
records = pads.dataset(f"{dataset}/records", format="parquet")
out = []
for summary in summaries:
    unit = summary["plan"]["unit_id"]
    scale = summary["plan"].get("scale", 1.0)
    source = next(s for s in manifest["sources"]
                  if s["first_unit_id"] <= unit < s["first_unit_id"] + s["units"])
    index = unit - source["first_unit_id"]
    layer, site = source["hook"].split(".")[1], source["hook"].split(".", 2)[2]
    block = model.model.layers[int(layer)]
    state = {}

    if site == "mlp":
        def hook(module, args):
            x = args[0]
            state["activation"] = x[0, :, index].clone()
            if state["scaled"]:
                x = x.clone()
                x[..., index] *= scale
                return (x,)
        handle = block.mlp.down_proj.register_forward_pre_hook(hook)
    else:
        assert source["dictionary"]["kind"] == "sae" and site == "resid_post", source

        def hook(module, args, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            c = sae.encode(h)[..., index]
            state["activation"] = c[0].clone()
            if state["scaled"]:
                h = h + (scale - 1.0) * c[..., None] * sae.W_dec[index]
                return (h,) + tuple(output[1:]) if isinstance(output, (tuple, list)) else h
        handle = block.register_forward_hook(hook)

    if "bins" in summary:
        window = manifest["window_tokens"]
        docs = [json.loads(line)["text"] for line in open(summary["corpus"]) if line.strip()]
        windows = []
        for doc in docs:
            ids = tokenizer(doc, add_special_tokens=False)["input_ids"]
            for start in range(0, len(ids), window - 1):
                windows.append([tokenizer.bos_token_id] + ids[start:start + window - 1])
        windows = windows[:summary["plan"]["windows"]]
        firing = []
        state["scaled"] = False
        for ids in windows:
            with torch.no_grad():
                model(input_ids=torch.tensor([ids]))
            firing += [(float(a), i) for a, i in zip(state["activation"], ids) if a > 0]
        handle.remove()
        top = max(a for a, _ in firing)
        bins = summary["plan"]["bins"]
        counts = [{} for _ in range(bins)]
        for a, i in firing:
            b = min(int(a / (top / bins)), bins - 1)
            counts[b][i] = counts[b].get(i, 0) + 1
        out.append({
            "windows": len(windows), "firing": len(firing), "max": top,
            "bins": [{"count": sum(c.values()),
                      "top": sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:2]}
                     for c in counts],
        })
        continue
    rows = records.to_table(filter=pc.field("record_id").isin(summary["record_ids"])).to_pylist()
    change = torch.zeros(model.config.vocab_size, dtype=torch.float64)
    kl, positions = 0.0, 0
    for row in rows:
        tokens = row["tokens"]
        assert tokens[0] == "<bos>", tokens[:2]
        ids = [tokenizer.bos_token_id] + tokenizer("".join(tokens[1:]), add_special_tokens=False)["input_ids"]
        assert len(ids) == len(tokens), (len(ids), len(tokens))
        ids = torch.tensor([ids])
        with torch.no_grad():
            state["scaled"] = False
            clean = model(input_ids=ids).logits[0]
            firing = (state["activation"] > 0).nonzero().view(-1)
            state["scaled"] = True
            scaled = model(input_ids=ids).logits[0]
        lp_clean = clean[firing].double().log_softmax(-1)
        lp_scaled = scaled[firing].double().log_softmax(-1)
        change += (lp_scaled - lp_clean).sum(0)
        kl += float((lp_clean.exp() * (lp_clean - lp_scaled)).sum())
        positions += len(firing)
    handle.remove()
    mean = change / positions
    k = summary["plan"]["tokens"]
    ours = [t["token_id"] for t in summary["falls"] + summary["rises"]]
    out.append({
        "positions": positions,
        "mean_kl": kl / positions,
        "at_ours": {str(i): float(mean[i]) for i in ours},
        "kth_fall": float(mean.sort().values[k - 1]),
        "kth_rise": float(mean.sort(descending=True).values[k - 1]),
    })
print(json.dumps(out))
