"""numpy's PCA of the tensor `x` in a safetensors file, by SVD of the centred
data: prints the first N principal axes (row after row) and the share of
variance they explain.

usage: pca_reference.py DATA N"""
import sys

import numpy as np
from safetensors.numpy import load_file

x = load_file(sys.argv[1])["x"].astype(np.float64)
n = int(sys.argv[2])
centred = x - x.mean(axis=0)
_, s, vt = np.linalg.svd(centred, full_matrices=False)
share = (s[:n] ** 2).sum() / (s ** 2).sum()
print(" ".join(repr(float(v)) for v in vt[:n].ravel()), repr(float(share)))
