"""Writes a GGUF file holding only a tokenizer, as llama.cpp's
convert_hf_to_gguf.py writes one, for the tests of featurescope's tokenizer
built from GGUF metadata (the reference is transformers' tokenizer loaded
from the same file). The vocabulary is learned here on real text, so no
tokenizer has to be downloaded:

- `llama-spm`: a SentencePiece BPE model with byte fallback (Llama 2's and
  Mistral's kind), written as `_set_vocab_sentencepiece` writes one: tokens,
  scores and token types, `tokenizer.ggml.model = "llama"`, no merges;
- `llama-bpe`, `qwen2`, `gpt2`: a byte-level BPE (tokenizers' ByteLevel, as
  GPT-2, Llama 3 and Qwen2 are) written as `_set_vocab_gpt2` writes one:
  tokens in the byte alphabet, merges, `tokenizer.ggml.model = "gpt2"` and
  `tokenizer.ggml.pre` naming the pre-tokenizer (Llama 3's, Qwen2's, and
  GPT-2's own, which transformers keeps as its default).

Each vocabulary also has a user-defined token (`<|sep|>`, llama.cpp's type 4,
matched whole but not special) and control tokens (type 3).

usage: write_tokenizer_gguf.py KIND TEXT_FILE OUT.gguf [KEY=VALUE]...

Each KEY=VALUE replaces the string metadata entry KEY (the refusal tests'
inputs)."""
import sys
import tempfile
from pathlib import Path

import gguf
import sentencepiece as spm
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

kind, text_file, out = sys.argv[1:4]
overrides = dict(arg.split("=", 1) for arg in sys.argv[4:])
VOCAB = 1500
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
ARCH = {"llama-spm": "llama", "llama-bpe": "llama", "qwen2": "qwen2", "gpt2": "llama"}[kind]

w = gguf.GGUFWriter(out, overrides.pop("general.architecture", ARCH))
w.add_name(f"tokenizer only ({kind})")

if kind == "llama-spm":
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "spm")
        spm.SentencePieceTrainer.train(
            input=text_file, model_prefix=prefix, vocab_size=VOCAB, model_type="bpe",
            byte_fallback=True, character_coverage=1.0, split_digits=True,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True,
            remove_extra_whitespaces=False, normalization_rule_name="identity",
            allow_whitespace_only_pieces=True, num_threads=2, minloglevel=2,
        )
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):  # llama.cpp's _create_vocab_sentencepiece
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        kind_of = NORMAL
        if sp.is_unknown(i):
            kind_of = UNKNOWN
        elif sp.is_control(i):
            kind_of = CONTROL
        elif sp.is_unused(i):
            kind_of = UNUSED
        elif sp.is_byte(i):
            kind_of = BYTE
        types.append(kind_of)
    # added_tokens.json's entries: user-defined, then a control token
    for token, kind_of in (("<|sep|>", USER_DEFINED), ("<|im_end|>", CONTROL)):
        tokens.append(token)
        scores.append(-1000.0)
        types.append(kind_of)
    w.add_tokenizer_model(overrides.pop("tokenizer.ggml.model", "llama"))
    w.add_tokenizer_pre(overrides.pop("tokenizer.ggml.pre", "default"))
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
else:
    specials = {"llama-bpe": ["<|begin_of_text|>", "<|end_of_text|>"],
                "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                "gpt2": ["<|endoftext|>"]}[kind]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train([text_file], trainer)
    vocab = bpe.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [" ".join(m) for m in __import__("json").loads(bpe.to_str())["model"]["merges"]]
    types = [NORMAL] * len(tokens)
    for token in specials:
        tokens.append(token)
        types.append(CONTROL)
    tokens.append("<|sep|>")
    types.append(USER_DEFINED)
    w.add_tokenizer_model(overrides.pop("tokenizer.ggml.model", "gpt2"))
    w.add_tokenizer_pre(overrides.pop("tokenizer.ggml.pre", kind))
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    first = tokens.index(specials[0])
    if kind == "llama-bpe":
        w.add_bos_token_id(first)
        w.add_eos_token_id(first + 1)
        w.add_add_bos_token(True)
    else:
        w.add_bos_token_id(first)
        w.add_eos_token_id(first + len(specials) - 1)
        w.add_add_bos_token(False)

assert not overrides, f"not written here: {sorted(overrides)}"
w.add_vocab_size(len(tokens))
w.write_header_to_file()
w.write_kv_data_to_file()
w.close()
print(out)
