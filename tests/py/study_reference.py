"""Reference for `featurescope experiment revision` and `evidence`: from the
per-unit rows the study wrote, each condition's mean score by numpy and its
95% percentile bootstrap interval by scipy.stats.bootstrap, and the same for
its unit-by-unit difference from the baseline condition (its own
resamples, so the bounds agree within resampling noise, not exactly).

usage: study_reference.py RESULTS_FOLDER BASELINE RESAMPLES
  -> JSON {conditions: {"INDEX": {n, mean, low, high, pairs, difference,
                                  difference_low, difference_high}}}"""
import csv
import json
import sys

import numpy as np
from scipy.stats import bootstrap

folder, baseline, resamples = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(f"{folder}/units.csv", newline="") as f:
    rows = list(csv.DictReader(f))
scores = {}
for r in rows:
    by_unit = scores.setdefault(r["condition"], {})
    if r["outcome"] == "scored":
        by_unit[r["unit_id"]] = float(r["score"])


def interval(values):
    if len(values) < 2:
        return None, None
    ci = bootstrap((np.array(values),), np.mean, n_resamples=resamples, confidence_level=0.95,
                   method="percentile", rng=np.random.default_rng(0)).confidence_interval
    return float(ci.low), float(ci.high)


out = {}
for condition, by_unit in scores.items():
    values = list(by_unit.values())
    result = {"n": len(values), "mean": float(np.mean(values)) if values else None}
    result["low"], result["high"] = interval(values)
    if baseline != "null" and condition != baseline:
        base = scores.get(baseline, {})
        differences = [v - base[u] for u, v in by_unit.items() if u in base]
        result["pairs"] = len(differences)
        result["difference"] = float(np.mean(differences)) if differences else None
        result["difference_low"], result["difference_high"] = interval(differences)
    out[condition] = result
print(json.dumps({"conditions": out}))
