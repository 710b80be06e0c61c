"""Prints the first value of an activation-cache shard, read with numpy's
safetensors loader (the cache format is plain safetensors).

usage: read_shard.py SHARD"""
import sys

from safetensors.numpy import load_file

print(float(load_file(sys.argv[1])["activations"][0, 0]))
