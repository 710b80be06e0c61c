"""Reference for `featurescope experiment bases`: from the per-unit rows the
experiment wrote, each basis's mean by numpy and its 95% percentile
bootstrap interval by scipy.stats.bootstrap (its own resamples, so the
bounds agree within resampling noise, not exactly), and the bars of the
figure parsed as XML.

usage: bases_reference.py RESULTS_FOLDER RESAMPLES
  -> JSON {cells: {"BASIS|RECORD_SET": {n, undefined, missing, mean, low, high}},
           units: {BASIS: [unit ids]}, bars: count}"""
import csv
import json
import sys
import xml.etree.ElementTree as ET

import numpy as np
from scipy.stats import bootstrap

folder, resamples = sys.argv[1], int(sys.argv[2])
with open(f"{folder}/units.csv", newline="") as f:
    rows = list(csv.DictReader(f))
cells, units = {}, {}
for r in rows:
    cell = cells.setdefault(f"{r['basis']}|{r['record_set']}", {"values": [], "undefined": 0, "missing": 0})
    if r["outcome"] == "scored":
        cell["values"].append(float(r["score"]))
    else:
        cell[r["outcome"]] += 1
    ids = units.setdefault(r["basis"], [])
    if int(r["unit_id"]) not in ids:
        ids.append(int(r["unit_id"]))
out = {}
for key, cell in cells.items():
    values = np.array(cell["values"])
    result = {"n": len(values), "undefined": cell["undefined"], "missing": cell["missing"]}
    if len(values) > 1:
        ci = bootstrap((values,), np.mean, n_resamples=resamples, confidence_level=0.95,
                       method="percentile", rng=np.random.default_rng(0)).confidence_interval
        result.update(mean=float(values.mean()), low=float(ci.low), high=float(ci.high))
    out[key] = result
svg = "{http://www.w3.org/2000/svg}"
# The bars are the rectangles filled with a series colour (not the canvas,
# the frame or the legend's swatches, which are 10 by 10).
bars = [r for r in ET.parse(f"{folder}/figure.svg").getroot().iter(f"{svg}rect")
        if r.get("fill", "").startswith("#") and r.get("width") != "10"]
print(json.dumps({"cells": out, "units": units, "bars": len(bars)}))
