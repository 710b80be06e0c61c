"""Reference for `featurescope experiment ratings`: Spearman's rho by scipy
over the pairs the experiment wrote, and the figure parsed as XML.

usage: spearman_reference.py RESULTS_FOLDER -> JSON {n, rho, circles}"""
import csv
import json
import sys
import xml.etree.ElementTree as ET

from scipy.stats import spearmanr

folder = sys.argv[1]
with open(f"{folder}/points.csv", newline="") as f:
    rows = list(csv.DictReader(f))
ratings = [int(r["rating"]) for r in rows]
scores = [float(r["score"]) for r in rows]
rho = spearmanr(ratings, scores).statistic
circles = ET.parse(f"{folder}/figure.svg").getroot().findall("{http://www.w3.org/2000/svg}circle")
print(json.dumps({"n": len(rows), "rho": float(rho), "circles": len(circles),
                  "ratings": {r["score_id"]: int(r["rating"]) for r in rows}}))
