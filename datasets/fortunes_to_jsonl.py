"""Turns fortune(6) data files into a JSONL corpus, one fortune per line.

usage: fortunes_to_jsonl.py FORTUNE_DIR CATEGORY... > corpus.jsonl

Fortunes are separated by lines holding only "%". Some files bold words by
overstriking (a character, a backspace, the character again): the
backspace and the first copy are dropped, leaving plain text."""
import json
import re
import sys

directory, categories = sys.argv[1], sys.argv[2:]
for category in categories:
    with open(f"{directory}/{category}", encoding="utf-8", errors="strict") as f:
        text = f.read()
    for fortune in re.split(r"^%\n", text, flags=re.M):
        fortune = re.sub(r".\x08", "", fortune).strip("\n")
        if fortune.strip():
            print(json.dumps({"text": fortune, "source": f"fortunes/{category}"}))
