"""Runs the Python block under a heading of docs/dataset-format.md with
DATASET replaced by a path, so the test checks the documentation itself;
then prints the named variables the block left, as JSON.

usage: run_doc_example.py DOC HEADING DATASET_PATH [VARIABLE]..."""
import json
import re
import sys

doc, heading, path = sys.argv[1:4]
text = open(doc).read()
section = text.split(f"## {heading}\n", 1)[1]
code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
names = {}
exec(compile(code.replace("DATASET", path), f"{doc}: {heading}", "exec"), names)
if sys.argv[4:]:
    print(json.dumps({name: names[name] for name in sys.argv[4:]}))
