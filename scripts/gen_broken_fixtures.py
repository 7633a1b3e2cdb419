#!/usr/bin/env python3
"""The broken-input corpus (tests/fixtures/broken/): malformed, lying and hostile files, each with
the exact message QuantLens must give it (tests/fixtures/broken/messages.tsv, checked by
tests/broken_inputs.rs and shown in RELIABILITY.md). Needs numpy and onnx; `--check` regenerates
into a temporary folder and compares.

Every file is made from the good fixtures (or from scratch) by one named damage, so a file's name
says what is wrong with it.
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_check  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = fixture_check.out_dir(os.path.join(ROOT, "tests", "fixtures", "broken"))
os.makedirs(OUT, exist_ok=True)
FIXED = (2026, 1, 1, 0, 0, 0)


def read(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def put(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def npy_bytes(arr, fortran=False):
    b = io.BytesIO()
    np.lib.format.write_array(b, np.asfortranarray(arr) if fortran else arr, allow_pickle=False)
    return b.getvalue()


def zip_bytes(members, method=zipfile.ZIP_STORED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED)
            info.compress_type = method
            z.writestr(info, data)
    return b.getvalue()


# --- empty, garbage, encodings ------------------------------------------------------------------
put("empty.txt", b"")
rng = np.random.default_rng(13)
put("garbage.txt", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
put("prose.txt", b"Meeting notes\n\nThe int8 model is worse than the float one. Why?\n" * 20)
compare = read("tests/fixtures/seed/compare_calib_excerpt.txt")
put("compare_utf16le.txt", b"\xff\xfe" + compare.decode("utf-8").encode("utf-16-le"))
put("compare_utf16be.txt", b"\xfe\xff" + compare.decode("utf-8").encode("utf-16-be"))
put("compare_utf16le_nobom.txt", compare.decode("utf-8").encode("utf-16-le"))
# Without a byte-order mark, told from the NUL bytes of ASCII text: LE (PowerShell) and BE.
put("compare_utf16be_nobom.txt", compare.decode("utf-8").encode("utf-16-be"))
put("compare_crlf.txt", compare.replace(b"\n", b"\r\n"))
put("latin1.txt", "Schicht ä ö ü ß: not UTF-8\n".encode("latin-1") * 10)

# --- text reports: truncated at section boundaries, duplicates, NaN/Inf --------------------------
mc = read("tests/fixtures/horizon/j6-s13/model_check_result.txt").decode("utf-8")
lines = mc.split("\n")
# Cut just after each section's header line (the line above a table's top rule).
cuts = [i for i, l in enumerate(lines) if l.strip() and i + 1 < len(lines) and lines[i + 1].startswith("+---")]
for k, i in enumerate(cuts[:4]):
    put(f"model_check_cut_{k + 1}.txt", "\n".join(lines[: i + 1]).encode("utf-8") + b"\n")
# Cut in the middle of a table row (mid-line).
put("model_check_cut_midrow.txt", mc[: len(mc) * 2 // 3].encode("utf-8"))
put("model_check_utf16be_nobom_crlf.txt", mc.replace("\n", "\r\n").encode("utf-16-be"))
rows = compare.split(b"\n")
data_rows = [r for r in rows if r.startswith(b"| ") and not r.startswith(b"| |") and b"mod_name" not in r]
put("compare_duplicate_layers.txt", b"\n".join(rows[:3] + data_rows[:2] + data_rows[:2] + rows[-2:]))
def nan_row(r):
    cells = r.split(b"|")
    # Columns from Cosine on (index 7 of the split) become nan / inf / -inf in turn.
    vals = [b" nan ", b" inf ", b" -inf "]
    return b"|".join(c if i < 7 or i >= len(cells) - 1 else vals[i % 3] for i, c in enumerate(cells))
put("compare_nan_inf.txt", b"\n".join(rows[:3] + [nan_row(r) if r in data_rows else r for r in rows[3:]]))
put("compare_truncated_header.txt", rows[0] + b"\n" + rows[1][: len(rows[1]) // 2])
csv = read("tests/fixtures/horizon/qa-seed/compare_per_layer_out.csv")
put("compare_csv_ragged.csv", b"\n".join(l if i % 2 else l.rsplit(b",", 3)[0] for i, l in enumerate(csv.split(b"\n"))))

# --- npy ----------------------------------------------------------------------------------------
good = npy_bytes(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
put("npy_wrong_magic.npy", b"\x93NUMPX" + good[6:])
put("npy_truncated_header.npy", good[:40])
put("npy_bad_version.npy", good[:6] + b"  " + good[8:])  # the magic, then version bytes 32.32
put("npy_truncated_data.npy", good[:-17])
put("npy_lying_shape.npy", good.replace(b"(2, 3, 4)", b"(9, 9, 9)"))
def npy_raw(header, data):
    """An npy v1 file with `header` (a dict literal) padded to 64 bytes, then `data`."""
    h = header.encode("latin-1")
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data
put("npy_huge_shape.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", b"\0" * 96))
put("npy_unknown_dtype.npy", good.replace(b"'<f4'", b"'<c8'"))
put("npy_object_dtype.npy", good.replace(b"'<f4'", b"'|O' "))
put("npy_header_len_lies.npy", good[:8] + struct.pack("<H", 60000) + good[10:])
put("npy_nan_inf.npy", npy_bytes(np.array([np.nan, np.inf, -np.inf, 0.0] * 6, dtype=np.float32)))
f16 = npy_bytes(np.arange(24, dtype=np.float16))
put("npy_dtype_mismatch.npy", f16.replace(b"'<f2'", b"'<f4'"))

# --- npz / zip ------------------------------------------------------------------------------------
npz = zip_bytes([("a.npy", good), ("b.npy", good)], zipfile.ZIP_DEFLATED)
put("npz_truncated_directory.npz", npz[: len(npz) - 30])
# Cut inside its second member (a copy stopped early): the first member is whole.
put("npz_cut_in_a_member.npz", npz[: npz.find(b"PK\x03\x04", 4) + 60])
put("npz_truncated_member.npz", npz[: len(npz) // 3] + npz[len(npz) * 2 // 3 :])
cd = npz.rfind(b"PK\x01\x02")
lying = bytearray(npz)
lying[cd + 24 : cd + 28] = struct.pack("<I", 0xFFFFFFF0)  # a member that claims ~4 GiB
put("npz_lying_size.npz", bytes(lying))
# A bomb: the member's npy header claims 2^28 float32 (1 GiB) and its deflated data is 10 MB of
# zeros, so it inflates 1000× and still holds fewer elements than it claims.
hdr = npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (268435456,), }", b"")
bomb = zip_bytes([("x.npy", hdr + b"\0" * 10_000_000)], zipfile.ZIP_DEFLATED)
put("npz_bomb.npz", bomb)
# 30 MB of spaces deflated to 30 KB (1000:1): read within the archive cap, then refused as text.
put("zip_bomb.zip", zip_bytes([("run/model_check_result.txt", b" " * 30_000_000)], zipfile.ZIP_DEFLATED))
# The same member whose headers claim 1,000 bytes: it inflates past its claim and is stopped.
lie = bytearray(zip_bytes([("run/model_check_result.txt", b" " * 30_000_000)], zipfile.ZIP_DEFLATED))
lie[22:26] = struct.pack("<I", 1000)
c = lie.rfind(b"PK\x01\x02")
lie[c + 24 : c + 28] = struct.pack("<I", 1000)
put("zip_bomb_lying.zip", bytes(lie))
# Not broken: the control for the streaming inflater. One deflated member of 10 MB (2.5 M float32,
# 0..999 repeated) that compresses to a few KB, so a slice of input inflates past a slice of
# output (np.savez_compressed writes such members; they once read short or "corrupt").
put("npz_big_member_ok.npz", zip_bytes([("x.npy", npy_bytes(np.tile(np.arange(1000, dtype=np.float32), 2500)))], zipfile.ZIP_DEFLATED))
put("zip_only_junk.zip", zip_bytes([("__MACOSX/._x", b"\0"), (".DS_Store", b"\0")]))

# --- safetensors ------------------------------------------------------------------------------------
def st(header, data=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data
put("safetensors_offsets_past_end.safetensors", st({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1600]}}, b"\0" * 16))
put("safetensors_shape_mismatch.safetensors", st({"t": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}, b"\0" * 16))
put("safetensors_unknown_dtype.safetensors", st({"t": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4))
put("safetensors_header_not_json.safetensors", struct.pack("<Q", 12) + b"{not json!!}")

# --- pickles ------------------------------------------------------------------------------------
def torch_zip(pkl):
    return zip_bytes([("archive/data.pkl", pkl), ("archive/byteorder", b"little"), ("archive/version", b"3\n")])
# GLOBAL os system, then REDUCE with ("echo pwned",): what `pickle.loads` would run.
os_system = b"\x80\x02cos\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
put("pickle_os_system.pt", torch_zip(os_system))
put("pickle_builtins_eval.pt", torch_zip(b"\x80\x02cbuiltins\neval\nX\x1b\x00\x00\x00__import__('os').system('x')\x85R."))
class Payload:
    def __reduce__(self):
        return (getattr(__import__("subprocess"), "Popen"), (["touch", "/tmp/quantlens-pwned"],))
put("pickle_reduce_payload.pt", torch_zip(pickle.dumps({"weight": Payload()}, protocol=2)))
put("pickle_bare.pkl", os_system)

# --- ONNX -----------------------------------------------------------------------------------------
def model(nodes, inits, inputs, outputs):
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="gen_broken_fixtures")
    m.ir_version = 8
    return m.SerializeToString()
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
put("onnx_unknown_op.onnx", model([helper.make_node("FrobnicateLayer", ["x"], ["y"], domain="")], [], [x], [y]))
scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.05])
scale.data_location = TensorProto.EXTERNAL
del scale.float_data[:]
scale.external_data.add(key="location", value="weights.bin")
zp = helper.make_tensor("z", TensorProto.INT8, [], [0])
put("onnx_external_data.onnx", model(
    [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
    [scale, zp], [x], [y]))
good_onnx = read("tests/fixtures/scales/handmade_qdq.onnx")
put("onnx_truncated.onnx", good_onnx[: len(good_onnx) // 2])

# --- JSON sources -----------------------------------------------------------------------------------
put("scales_wrong_types.json", json.dumps({"scales": {"conv1": {"scale": "big"}, "conv2": {"scale": [1, 2]}}}).encode())
put("scales_bad_values.json", b'{"conv1": -1.0, "conv2": 0, "conv3": 0.05, "conv4": 1e308}')
put("scales_not_scales.json", b'{"conv1": NaN, "conv2": "x"}')
sweep = json.loads(json.dumps({"format": "quantlens.simulated_mixed_precision", "version": 99, "model": "m.onnx", "table": "t.txt", "table_rows": 1, "base_dtype": "qint8", "weights": "float", "samples": 1, "points": []}))
put("sweep_newer_version.json", json.dumps(sweep).encode())
journal = read("tests/fixtures/seed/quantlens-journal.json")
put("journal_truncated.json", journal[: len(journal) // 2])

fixture_check.finish(os.path.join(ROOT, "tests", "fixtures", "broken"))
