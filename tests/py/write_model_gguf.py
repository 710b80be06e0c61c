"""Writes a Hugging Face checkpoint folder as a GGUF file the way llama.cpp's
convert_hf_to_gguf.py does, with PyPI `gguf`'s writer, for the tests of
featurescope's GGUF model path (the reference stays transformers on the
original folder). Tensors are written in float32, so the only differences
left are the conversions themselves:

- names: `blk.N.attn_q`, `ffn_gate`, `token_embd`, `output_norm`, ...;
- Llama (and Mistral): query and key rows permuted for llama.cpp's
  interleaved rotary kernels;
- Gemma (1, 2 and 3): every norm stored as `1 + w`;
- Gemma 2: its soft-capping of attention scores and logits and its window;
- Llama 3's rope scaling as the `rope_freqs.weight` divisors;
- Gemma 3's local RoPE base as `rope.freq_base_swa`, its global linear
  scaling as `rope.scaling.type` / `rope.scaling.factor`.

usage: write_model_gguf.py MODEL_DIR OUT.gguf [KEY=JSON | +TENSOR | tokenizer=FILE.gguf]...

Each KEY=JSON adds a metadata entry (a string, integer or float) and each
+TENSOR a 1-d float32 tensor of that name: the refusal tests' inputs.
tokenizer=FILE.gguf copies another file's `tokenizer.*` metadata (one that
write_tokenizer_gguf.py wrote), so the model has a vocabulary to read text
with."""
import json
import math
import sys
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file

folder, out, extras = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
cfg = json.loads((folder / "config.json").read_text())
model_type = cfg["model_type"]
arch = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "gemma": "gemma", "gemma2": "gemma2",
        "gemma3_text": "gemma3"}[model_type]
is_gemma = arch.startswith("gemma")
heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
rope = cfg.get("rope_parameters") or {}
global_rope = rope.get("full_attention", rope)

w = gguf.GGUFWriter(out, arch)
w.add_name(f"tiny {model_type}")
w.add_context_length(cfg["max_position_embeddings"])
w.add_embedding_length(cfg["hidden_size"])
w.add_block_count(cfg["num_hidden_layers"])
w.add_feed_forward_length(cfg["intermediate_size"])
w.add_head_count(heads)
w.add_head_count_kv(kv_heads)
w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
w.add_rope_freq_base(global_rope.get("rope_theta", 10000.0))
w.add_vocab_size(cfg["vocab_size"])
if arch == "llama":
    w.add_rope_dimension_count(head_dim)
    if cfg.get("sliding_window"):  # Mistral 7B v0.1's window, which llama.cpp drops
        w.add_sliding_window(cfg["sliding_window"])
if is_gemma:
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
if arch in ("gemma2", "gemma3"):
    w.add_sliding_window(cfg["sliding_window"])
    assert cfg["query_pre_attn_scalar"] == head_dim, "GGUF scales queries by head_dim"
if arch == "gemma2":
    w.add_attn_logit_softcapping(cfg["attn_logit_softcapping"])
    w.add_final_logit_softcapping(cfg["final_logit_softcapping"])
if arch == "gemma3":
    w.add_rope_freq_base_swa(rope["sliding_attention"]["rope_theta"])
if global_rope.get("rope_type") == "linear":
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(global_rope["factor"])

PARTS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
         "self_attn.k_norm": "attn_k_norm", "input_layernorm": "attn_norm",
         "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
if arch in ("gemma2", "gemma3"):
    PARTS.update({"post_attention_layernorm": "post_attention_norm",
                  "pre_feedforward_layernorm": "ffn_norm",
                  "post_feedforward_layernorm": "post_ffw_norm"})
else:
    PARTS["post_attention_layernorm"] = "ffn_norm"


def permute(x, n_head):
    """llama.cpp's LlamaModel.permute."""
    return x.reshape(n_head, 2, x.shape[0] // n_head // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)


def gguf_name(name):
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    _, _, layer, rest = name.split(".", 3)
    part, kind = rest.rsplit(".", 1)
    return f"blk.{layer}.{PARTS[part]}.{kind}"


tensors = load_file(str(folder / "model.safetensors"))
if cfg.get("tie_word_embeddings") and "lm_head.weight" in tensors:
    del tensors["lm_head.weight"]
for name, data in sorted(tensors.items()):
    data = data.astype(np.float32)
    if arch == "llama" and ".q_proj." in name:
        data = permute(data, heads)
    elif arch == "llama" and ".k_proj." in name:
        data = permute(data, kv_heads)
    if is_gemma and name.endswith("norm.weight"):
        data = data + 1
    w.add_tensor(gguf_name(name), np.ascontiguousarray(data))

if global_rope.get("rope_type") == "llama3":  # llama.cpp's generate_extra_tensors
    base, factor = global_rope["rope_theta"], global_rope["factor"]
    low, high = global_rope["low_freq_factor"], global_rope["high_freq_factor"]
    old_context = global_rope["original_max_position_embeddings"]
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    divisors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old_context / high:
            divisors.append(1)
        elif wavelen > old_context / low:
            divisors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            divisors.append(1 / ((1 - smooth) / factor + smooth))
    w.add_tensor("rope_freqs.weight", np.array(divisors, dtype=np.float32))

for extra in extras:
    if extra.startswith("tokenizer="):
        reader = gguf.GGUFReader(extra.split("=", 1)[1])
        for name, field in reader.fields.items():
            if name.startswith("tokenizer."):
                kind = field.types[0]
                sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
                w.add_key_value(name, field.contents(), kind, sub_type=sub)
        continue
    if extra.startswith("+"):
        w.add_tensor(extra[1:], np.zeros(4, dtype=np.float32))
        continue
    key, value = extra.split("=", 1)
    value = json.loads(value)
    if isinstance(value, str):
        w.add_string(key, value)
    elif isinstance(value, int):
        w.add_uint32(key, value)
    else:
        w.add_float32(key, value)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(out)
