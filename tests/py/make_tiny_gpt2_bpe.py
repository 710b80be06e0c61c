"""Writes a tiny randomly initialised GPT-2 with a byte-level BPE tokenizer
of its own (GPT-2's pre-tokenizer and decoder, trained here on Debian's
licence texts), for the local backend's test of vocabularies in which every
value 0..10 is one token, as in GPT-2's ("10" included). No hub access.

usage: make_tiny_gpt2_bpe.py OUT_DIR"""
import glob
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
texts = [open(p, encoding="utf-8", errors="replace").read()
         for p in sorted(glob.glob("/usr/share/common-licenses/*")) if os.path.isfile(p)]
# Values as the simulation prompt writes them, so that each becomes one token.
texts.append("".join(f"word\t{v}\n" for v in range(11)) * 200)
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=800, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              show_progress=False)
tokenizer.train_from_iterator(texts, trainer)
tokenizer.save(os.path.join(out, "tokenizer.json"))
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(vocab_size=tokenizer.get_vocab_size(), n_positions=512, n_embd=64,
                                   n_layer=2, n_head=4, activation_function="gelu_new"))
with torch.no_grad():
    for p in model.parameters():
        p.mul_(5.0)
model.save_pretrained(out, safe_serialization=True)
