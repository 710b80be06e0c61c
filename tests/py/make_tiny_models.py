"""Writes tiny randomly initialised causal LMs of each decoder architecture
with Hugging Face transformers, for the reference tests (no hub access: the
configs are built here). Each folder gets MiniLM's tokenizer.json, whose
vocabulary size the configs use.

usage: make_tiny_models.py OUT_DIR TOKENIZER_JSON"""
import os
import shutil
import sys

import torch
from transformers import (Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig,
                          GemmaConfig, GemmaForCausalLM, GPT2Config, GPT2LMHeadModel,
                          GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

out, tokenizer = sys.argv[1], sys.argv[2]
VOCAB = 30522
common = dict(vocab_size=VOCAB, max_position_embeddings=128)
models = {
    "gpt2": (GPT2LMHeadModel, GPT2Config(vocab_size=VOCAB, n_positions=128, n_embd=64, n_layer=2,
                                         n_head=4, activation_function="gelu_new")),
    "pythia": (GPTNeoXForCausalLM, GPTNeoXConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                intermediate_size=256, rotary_pct=0.25,
                                                use_parallel_residual=True, hidden_act="gelu", **common)),
    "neox-sequential": (GPTNeoXForCausalLM, GPTNeoXConfig(hidden_size=64, num_hidden_layers=2,
                                                         num_attention_heads=4, intermediate_size=256,
                                                         rotary_pct=0.5, use_parallel_residual=False,
                                                         hidden_act="gelu", **common)),
    "llama": (LlamaForCausalLM, LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2, **common)),
    "qwen2": (Qwen2ForCausalLM, Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2, **common)),
    "gemma": (GemmaForCausalLM, GemmaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                                            hidden_activation="gelu_pytorch_tanh", **common)),
    # Gemma 2: sandwich norms, alternating 6-token windows, soft-capped
    # attention scores and logits (caps low enough to bite at these scales).
    "gemma2": (Gemma2ForCausalLM, Gemma2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                                               num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                               sliding_window=6, query_pre_attn_scalar=24,
                                               attn_logit_softcapping=3.0, final_logit_softcapping=5.0,
                                               hidden_activation="gelu_pytorch_tanh", **common)),
    # Gemma 2 as a GGUF file can hold it: queries scaled by 1/sqrt(head_dim).
    "gemma2-gguf": (Gemma2ForCausalLM, Gemma2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                                                    num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                                    sliding_window=6, query_pre_attn_scalar=16,
                                                    attn_logit_softcapping=3.0, final_logit_softcapping=5.0,
                                                    hidden_activation="gelu_pytorch_tanh", **common)),
    # Gemma 3: QK-norm, a local and a global RoPE base, 5 local layers to 1 global.
    "gemma3": (Gemma3ForCausalLM, Gemma3TextConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=7,
                                                   num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                                                   sliding_window=6, query_pre_attn_scalar=32,
                                                   rope_parameters={
                                                       "sliding_attention": {"rope_type": "default", "rope_theta": 10.0},
                                                       "full_attention": {"rope_type": "linear", "factor": 4.0,
                                                                          "rope_theta": 10000.0}},
                                                   hidden_activation="gelu_pytorch_tanh", **common)),
    "mistral": (MistralForCausalLM, MistralConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                  num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                                  sliding_window=6, **common)),
    # Llama 3's rope scaling; with 16-value heads and 16 original positions,
    # frequencies fall in all three of its bands.
    "llama3": (LlamaForCausalLM, LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2,
                                             rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0,
                                                              "factor": 8.0, "low_freq_factor": 1.0,
                                                              "high_freq_factor": 4.0,
                                                              "original_max_position_embeddings": 16},
                                             **common)),
}
for name, (cls, config) in models.items():
    torch.manual_seed(0)
    model = cls(config)
    # Larger weights than the 0.02 initialisation, so the layers do visible work.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0)
    path = os.path.join(out, name)
    model.save_pretrained(path, safe_serialization=True)
    shutil.copy(tokenizer, os.path.join(path, "tokenizer.json"))
print(" ".join(models))
