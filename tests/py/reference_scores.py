"""numpy reference for the scorer: reads {"real": [[...]], "simulated": [[...]]}
on stdin and prints the correlation over all tokens, and r² and absolute
deviation explained after a least-squares linear calibration."""
import json
import sys

import numpy as np

data = json.load(sys.stdin)
real = np.concatenate([np.asarray(r, dtype=np.float64) for r in data["real"]])
sim = np.concatenate([np.asarray(s, dtype=np.float64) for s in data["simulated"]])
correlation = float(np.corrcoef(sim, real)[0, 1])
slope, intercept = np.polyfit(sim, real, 1)
calibrated = slope * sim + intercept
r_squared = 1 - np.sum((real - calibrated) ** 2) / np.sum((real - real.mean()) ** 2)
ade = 1 - np.mean(np.abs(real - calibrated)) / np.mean(np.abs(real))
print(json.dumps({"correlation": correlation, "r_squared": float(r_squared), "absolute_dev_explained": float(ade)}))
