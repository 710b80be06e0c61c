"""Reference for `featurescope similar` and `featurescope steer` on the
demo, with Hugging Face transformers running the GGUF subject model.

- similar: the unit's output directions compared by cosine in numpy (an SAE
  feature's W_dec row from its safetensors; an MLP neuron's down-projection
  column through its block's post-feedforward norm, 1 + weight), and the
  correlation of every unit's activation with the unit's over the text
  tokens of the records featurescope ran (re-tokenised here): MLP neurons
  at the input of their block's down projection, dictionary features on the
  block's output, the standard SAE through SAELens's encode and the linear
  baselines (PCA, ICA, random directions, the neuron basis) as
  (x - b_dec if apply_b_dec_to_input) @ W_enc + b_enc.
- steer: greedy continuations, unsteered and with the unit's decoder row
  times the amount added to its block's output at every position (an SAE
  feature at resid_post), or its neuron's input to the down projection
  raised by the amount or set to the clamped value.

usage: lab_reference.py MODEL.gguf DATASET similar OURS.json...
       lab_reference.py MODEL.gguf DATASET steer OURS.json
  -> JSON: similar: per file, {"tokens": n, "direction": {unit: cosine},
     "direction_kth": x, "correlation": {unit: r}, "correlation_kth": x};
     steer: {"unsteered": text, "steered": text}"""
import json
import sys

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as pads
import torch
from safetensors.numpy import load_file
from sae_lens import SAE

import gguf_causal_lm

gguf, dataset, what = sys.argv[1:4]
ours_all = [json.load(open(path)) for path in sys.argv[4:]]
torch.set_num_threads(2)
tokenizer, model = gguf_causal_lm.load(gguf, attn_implementation="eager")
manifest = json.load(open(f"{dataset}/manifest.json"))
sources = manifest["sources"]


def source_of(unit):
    return next(s for s in sources if s["first_unit_id"] <= unit < s["first_unit_id"] + s["units"])


def hook_of(source):
    _, layer, site = source["hook"].split(".", 2)
    return int(layer), site


def neuron_directions(layer):
    block = model.model.layers[layer]
    post = 1.0 + block.post_feedforward_layernorm.weight.double()
    return (block.mlp.down_proj.weight.detach().double() * post.detach()[:, None]).T.numpy()


def cosines(unit):
    source = source_of(unit)
    layer, site = hook_of(source)
    if source["dictionary"] is not None:
        d = load_file(f'{source["dictionary"]["source"]}/sae_weights.safetensors')["W_dec"]
        d = d.astype(np.float64)
    else:
        assert site == "mlp", source
        d = neuron_directions(layer)
    d = d[: source["units"]]
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    c = d @ d[unit - source["first_unit_id"]]
    return {source["first_unit_id"] + i: float(v) for i, v in enumerate(c)}


def ids_of(tokens):
    assert tokens[0] == "<bos>", tokens[:2]
    ids = [tokenizer.bos_token_id] + tokenizer("".join(tokens[1:]), add_special_tokens=False)["input_ids"]
    assert len(ids) == len(tokens), (len(ids), len(tokens))
    return ids


def encoder(d):
    """A dictionary's encode, from its folder."""
    if d is None:
        return lambda x: x.numpy()
    cfg = json.load(open(f'{d["source"]}/cfg.json'))
    if cfg["architecture"] == "standard":
        sae = SAE.load_from_disk(d["source"], device="cpu")

        def encode(x):
            with torch.no_grad():
                return sae.encode(x.float()).double().numpy()
        return encode
    assert cfg["architecture"] == "linear", cfg["architecture"]
    w = load_file(f'{d["source"]}/sae_weights.safetensors')
    shift = w["b_dec"] if cfg["apply_b_dec_to_input"] else 0.0
    return lambda x: (x.double().numpy() - shift) @ w["W_enc"].astype(np.float64) + w["b_enc"]


encoders = [encoder(s["dictionary"]) for s in sources]


def all_units(ids):
    """Every unit's activations [tokens, units] on one window."""
    captured = {}
    handles = []
    for layer, site in {hook_of(s) for s in sources}:
        block = model.model.layers[layer]
        if site == "mlp":
            def pre(module, args, key=(layer, site)):
                captured[key] = args[0][0].double()
            handles.append(block.mlp.down_proj.register_forward_pre_hook(pre))
        else:
            assert site == "resid_post"

            def post(module, args, output, key=(layer, site)):
                h = output[0] if isinstance(output, (tuple, list)) else output
                captured[key] = h[0]
            handles.append(block.register_forward_hook(post))
    with torch.no_grad():
        model(input_ids=torch.tensor([ids]))
    for h in handles:
        h.remove()
    width = max(s["first_unit_id"] + s["units"] for s in sources)
    out = np.zeros((len(ids), width))
    for s, encode in zip(sources, encoders):
        acts = encode(captured[hook_of(s)])
        out[:, s["first_unit_id"]:s["first_unit_id"] + s["units"]] = acts[:, : s["units"]]
    return out


def kth(values, unit, k):
    ranked = sorted((v for u, v in values.items() if u != unit), reverse=True)
    return ranked[k - 1]


def similar(ours):
    unit = ours["unit_id"]
    k = len(ours["by_correlation"])
    records = pads.dataset(f"{dataset}/records", format="parquet")
    rows = records.to_table(filter=pc.field("record_id").isin(ours["record_ids"])).to_pylist()
    # Text tokens only (the windows' first token is BOS).
    acts = np.concatenate([all_units(ids_of(row["tokens"]))[1:] for row in rows])
    centred = acts - acts.mean(0)
    norms = np.linalg.norm(centred, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = centred.T @ centred[:, unit] / (norms * norms[unit])
    r = np.nan_to_num(r)
    correlation = {u: float(v) for u, v in enumerate(r)}
    direction = cosines(unit)
    return {
        "tokens": len(acts),
        "direction": direction, "direction_kth": kth(direction, unit, len(ours["by_direction"])),
        "correlation": correlation, "correlation_kth": kth(correlation, unit, k),
    }


if what == "similar":
    with torch.no_grad():
        print(json.dumps([similar(ours) for ours in ours_all]))
elif what == "steer":
    plan = ours_all[0]["plan"]
    unit = plan["unit_id"]
    # Adding along the unit's direction, or (neurons) clamping it at a value.
    amount, clamp = plan["steer"].get("add"), plan["steer"].get("clamp")
    source = source_of(unit)
    layer, site = hook_of(source)
    index = unit - source["first_unit_id"]
    block = model.model.layers[layer]
    state = {"on": False}
    if site == "mlp":
        def pre(module, args):
            if state["on"]:
                x = args[0].clone()
                if clamp is None:
                    x[..., index] += amount
                else:
                    x[..., index] = clamp
                return (x,)
        handle = block.mlp.down_proj.register_forward_pre_hook(pre)
    else:
        assert clamp is None, "the reference clamps neurons only"
        row = torch.from_numpy(load_file(f'{source["dictionary"]["source"]}/sae_weights.safetensors')["W_dec"][index])

        def post(module, args, output):
            if state["on"]:
                h = output[0] if isinstance(output, (tuple, list)) else output
                h = h + amount * row
                return (h,) + tuple(output[1:]) if isinstance(output, (tuple, list)) else h
        handle = block.register_forward_hook(post)
    ids = tokenizer(plan["prompt"], return_tensors="pt")["input_ids"]
    out = {}
    for key, on in (("unsteered", False), ("steered", True)):
        state["on"] = on
        with torch.no_grad():
            written = model.generate(ids, max_new_tokens=plan["tokens"], do_sample=False,
                                     use_cache=True, pad_token_id=tokenizer.eos_token_id)
        new = written[0, ids.shape[1]:].tolist()
        ends = [i for i, t in enumerate(new) if t in tokenizer.all_special_ids]
        out[key] = tokenizer.decode(new[: ends[0]] if ends else new)
    handle.remove()
    print(json.dumps(out))
