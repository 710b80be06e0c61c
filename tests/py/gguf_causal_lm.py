"""A GGUF causal language model as Hugging Face transformers loads it
(`gguf_file=`, float32), for the references that run the demo's model.

transformers parses the GGUF file's metadata in Python, the 262,144-token
vocabulary three times over (config, tokenizer, weights): a minute or more
on two cores. The first load (`make setup` runs this file on the demo's
model) saves what transformers made of the file beside it, in
`NAME.gguf.transformers-VERSION-SIZE/`, written under a temporary name and
renamed, so references running side by side never read half of it; later
loads read that folder, the same float32 weights and tokenizer (checked
equal, logits and token ids, when this was written), in seconds."""
import os
import shutil
import tempfile

import torch
import transformers
from safetensors.torch import save_model
from transformers import AutoModelForCausalLM, AutoTokenizer


def load(gguf, **model_args):
    """(tokenizer, model in eval mode) of the GGUF file at `gguf`."""
    gguf = os.path.abspath(gguf)
    # Another file of the same name is another model.
    saved = f"{gguf}.transformers-{transformers.__version__}-{os.path.getsize(gguf)}"
    if not os.path.isdir(saved):
        folder, name = os.path.dirname(gguf), os.path.basename(gguf)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        staging = tempfile.mkdtemp(prefix=".staging-", dir=folder)
        try:
            tokenizer.save_pretrained(staging)
            # transformers refuses to save a model loaded from GGUF (it is
            # marked quantized, though its weights are float32 now): the
            # configuration without that mark, and the weights as they are.
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.config.save_pretrained(staging)
            save_model(model, os.path.join(staging, "model.safetensors"))
            os.rename(staging, saved)
        except OSError:
            if not os.path.isdir(saved):  # not another reference's, saved first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(saved)
    model = AutoModelForCausalLM.from_pretrained(saved, dtype=torch.float32, **model_args).eval()
    return tokenizer, model


if __name__ == "__main__":
    import sys

    load(sys.argv[1])
