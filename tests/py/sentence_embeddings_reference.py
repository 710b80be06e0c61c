"""Prints sentence-transformers' embeddings of texts as JSON: the model
folder loaded as its modules.json says (encoder, mean pooling, normalise),
on the CPU, offline.

usage: sentence_embeddings_reference.py MODEL_DIR TEXTS_JSON"""
import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import SentenceTransformer  # noqa: E402

model = SentenceTransformer(sys.argv[1], device="cpu")
texts = json.loads(open(sys.argv[2]).read())
print(json.dumps(model.encode(texts, convert_to_numpy=True).tolist()))
