"""Reference for `featurescope experiment ablation`: Hugging Face
transformers runs the GGUF subject model on the records an ablation used
(re-tokenised here by transformers' own GGUF tokenizer), clean and with the
unit scaled: an MLP neuron scaled at the input of its block's down
projection, an SAE feature's share (SAELens's encode times its decoder row)
scaled in the block's output. At the positions where the unit fires, the
mean change of every next token's log-probability and the mean
KL(clean || scaled), in float64.

usage: ablation_reference.py MODEL.gguf SAE_DIR DATASET SUMMARY.json...
  -> JSON, per summary: {positions, mean_kl, at_ours: {token id: mean change},
                         kth_fall, kth_rise}"""
import json
import os
import sys

import pyarrow.compute as pc
import pyarrow.dataset as pads
import torch
from sae_lens import SAE
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, sae_dir, dataset = sys.argv[1:4]
summaries = [json.load(open(path)) for path in sys.argv[4:]]
torch.set_num_threads(2)
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                             attn_implementation="eager").eval()
sae = SAE.load_from_disk(sae_dir, device="cpu")
manifest = json.load(open(f"{dataset}/manifest.json"))
records = pads.dataset(f"{dataset}/records", format="parquet")
out = []
for summary in summaries:
    unit, scale = summary["plan"]["unit_id"], summary["plan"]["scale"]
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
