"""Token ids from Hugging Face transformers' tokenizer for a GGUF file (the
reference for featurescope's tokenizer built from the same file's metadata).

usage: gguf_tokenizer_reference.py GGUF_FILE TEXTS_JSON

TEXTS_JSON holds a list of strings; prints a JSON list with, for each, the
ids transformers gives (special tokens added, as for a model input).
"""
import json
import sys
from pathlib import Path

from transformers import AutoTokenizer

path = Path(sys.argv[1])
texts = json.loads(Path(sys.argv[2]).read_text())
tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
print(json.dumps([tokenizer(text).input_ids for text in texts]))
