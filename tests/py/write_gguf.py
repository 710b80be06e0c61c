"""Writes GGUF files with PyPI `gguf`'s own writer, for the reader's tests:
one tensor of every type featurescope dequantises, each with the values
`gguf.quants.dequantize` gives for it (the reference), and metadata of every
value type.

usage: write_gguf.py OUT_DIR

Writes OUT_DIR/all-types.gguf (default alignment), OUT_DIR/aligned-64.gguf
(general.alignment = 64), and OUT_DIR/expected.json with, per tensor, its
type, its shape in libtorch's order and the file OUT_DIR/NAME.f32 holding
the reference values (float32, little-endian).
"""
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants

ROWS, COLS = 3, 512
# Types the writer can quantise from floats.
QUANTISED = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
# K quantisations: `gguf` only dequantises them, so their blocks are random
# bytes with their float16 scales set to finite values.
K_SCALES = {T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def k_blocks(rng, qtype):
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(ROWS * COLS // block_values, block_bytes), dtype=np.uint8)
    for at in K_SCALES[qtype]:
        scale = rng.uniform(0.002, 0.05, size=blocks.shape[0]).astype(np.float16)
        blocks[:, at:at + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(ROWS, -1)


def write(path, alignment, out_dir, expected):
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(str(path), "test")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -5)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4_000_000_000)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_float32("test.f32", 1.5)
    w.add_uint64("test.u64", 1 << 40)
    w.add_int64("test.i64", -(1 << 40))
    w.add_float64("test.f64", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo ▁world")
    w.add_array("test.strings", ["a", "▁b", "<0x0A>"])
    w.add_array("test.ints", [1, -2, 3])
    tensors = []
    plain = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    tensors.append(("f32", plain, None))
    tensors.append(("norm.f32", rng.standard_normal(640).astype(np.float32), None))
    for qtype in QUANTISED:
        raw = quants.quantize(rng.standard_normal((ROWS, COLS)).astype(np.float32), qtype)
        tensors.append((qtype.name.lower(), raw, qtype))
    for qtype in K_SCALES:
        tensors.append((qtype.name.lower(), k_blocks(rng, qtype), qtype))
    for name, data, qtype in tensors:
        if qtype is None:
            w.add_tensor(name, data)
            values = data
        else:
            w.add_tensor(name, data, raw_dtype=qtype)
            values = quants.dequantize(data, qtype)
        if expected is not None:
            values.astype("<f4").tofile(out_dir / f"{name}.f32")
            expected[name] = {
                "type": (qtype.name if qtype is not None else "F32"),
                "shape": list(values.shape),
                "file": f"{name}.f32",
            }
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    expected = {}
    write(out / "all-types.gguf", None, out, expected)
    write(out / "aligned-64.gguf", 64, out, None)
    (out / "expected.json").write_text(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
