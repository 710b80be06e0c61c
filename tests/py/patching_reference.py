"""Reference for `featurescope experiment patching`: Hugging Face
transformers runs the GGUF subject model on the summary's prompts (their
text tokenised again by transformers' own GGUF tokenizer); a forward hook on
the patched block's output moves the clean run towards the corrupted one by
the n features of each basis that differ most at each position, x' = x +
sum_{j in F} (cbar_j - c_j) W_dec[j]: the SAE encoded by SAELens, the linear
bases (PCA, ICA, random, neuron) as (x - b_dec) @ W_enc + b_enc (b_dec
where the config applies it to the input) from their safetensors, the hook's own coordinates as the identity. At the last token,
in float64: mean KL(corrupted || patched) and the mean logit differences of
the clean and the corrupted indirect object against the subject.

usage: patching_reference.py MODEL.gguf SUMMARY.json
  -> JSON {tokens_match, clean: measure, corrupted: measure,
           bases: {label: [measure per number of features]}}"""
import json
import sys

import torch
from safetensors.torch import load_file
from sae_lens import SAE

import gguf_causal_lm

gguf, summary_path = sys.argv[1:3]
summary = json.load(open(summary_path))
torch.set_num_threads(2)
tokenizer, model = gguf_causal_lm.load(gguf, attn_implementation="eager")
layer, site = summary["plan"]["hook"].split(".")[1], summary["plan"]["hook"].split(".", 2)[2]
assert site == "resid_post", site
block = model.model.layers[int(layer)]

prompts = summary["prompts"]
clean = [tokenizer(p["clean"])["input_ids"] for p in prompts]
corrupted = [tokenizer(p["corrupted"])["input_ids"] for p in prompts]
tokens_match = (clean == [p["clean_ids"] for p in prompts]
                and corrupted == [p["corrupted_ids"] for p in prompts])
clean, corrupted = torch.tensor(clean), torch.tensor(corrupted)
answers = {key: torch.tensor([[p[key]] for p in prompts])
           for key in ("subject", "indirect_object", "corrupted_indirect_object")}

state = {"replace": None}


def hook(module, args, output):
    h = output[0] if isinstance(output, (tuple, list)) else output
    state["seen"] = h.clone()
    if state["replace"] is not None:
        h = state["replace"]
        return (h,) + tuple(output[1:]) if isinstance(output, (tuple, list)) else h


block.register_forward_hook(hook)


def last_logits(ids):
    with torch.no_grad():
        return model(input_ids=ids).logits[:, -1].double()


corrupted_logits = last_logits(corrupted)
corrupted_x = state["seen"]
clean_logits = last_logits(clean)
clean_x = state["seen"]
corrupted_lp = corrupted_logits.log_softmax(-1)


def measure(logits):
    lp = logits.log_softmax(-1)
    kl = (corrupted_lp.exp() * (corrupted_lp - lp)).sum(-1).mean()
    subject = logits.gather(1, answers["subject"])
    diff = lambda key: float((logits.gather(1, answers[key]) - subject).mean())
    return {"mean_kl": float(kl), "io_logit_difference": diff("indirect_object"),
            "corrupted_io_logit_difference": diff("corrupted_indirect_object")}


def linear(directory):
    cfg = json.load(open(f"{directory}/cfg.json"))
    assert cfg["architecture"] == "linear" and cfg["normalize_activations"] == "none", cfg
    w = load_file(f"{directory}/sae_weights.safetensors")
    shift = w["b_dec"] if cfg["apply_b_dec_to_input"] else 0.0
    return (lambda x: (x - shift) @ w["W_enc"] + w["b_enc"]), w["W_dec"]


out = {"tokens_match": tokens_match, "clean": measure(clean_logits),
       "corrupted": measure(corrupted_logits), "bases": {}}
for basis in summary["bases"]:
    directory = basis["dictionary"]
    if directory is None:
        width = clean_x.shape[-1]
        encode, w_dec = (lambda x: x), torch.eye(width)
    elif basis["kind"] == "sae":
        # Its features decoded along the raw decoder rows: only so without
        # input normalisation or rescaling by the decoder norms.
        cfg = json.load(open(f"{directory}/cfg.json"))
        assert cfg["normalize_activations"] == "none", cfg
        assert not cfg.get("rescale_acts_by_decoder_norm", False), cfg
        sae = SAE.load_from_disk(directory, device="cpu")
        encode, w_dec = sae.encode, sae.W_dec.detach()
    else:
        encode, w_dec = linear(directory)
    with torch.no_grad():
        delta = encode(corrupted_x) - encode(clean_x)
    measures = []
    for n in summary["plan"]["features"]:
        if n == 0:
            state["replace"] = None
        else:
            chosen = delta.abs().topk(min(n, delta.shape[-1]), dim=-1).indices
            moved = torch.zeros_like(delta).scatter(-1, chosen, delta.gather(-1, chosen))
            state["replace"] = clean_x + moved @ w_dec
        measures.append(measure(last_logits(clean)))
    state["replace"] = None
    out["bases"][basis["label"]] = measures
print(json.dumps(out))
