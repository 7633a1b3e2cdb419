#!/usr/bin/env python3
"""Zip fixtures: report folders as users zip them, and hostile zips (stdlib only; `--check` compares).

- `reports.zip`: a zipped `run42/` folder (deflated, with macOS metadata beside it, as Finder's
  "Compress" writes it) holding the example's model check and advisor, and the real int8 run's
  `scales.json` (so a zip brings a scale source too).
- `flat.zip`: the same model check at the top of the zip (no folder): named after the zip.
- `nested.zip`: a zip inside a zip (refused with a message, not opened again).
- `bomb.zip`: a member whose directory claims 1,000 bytes but that inflates to 10 MB.
- `empty.zip`: only a folder entry.
"""
import os
import struct
import sys
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_check  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = fixture_check.out_dir(os.path.join(ROOT, "tests", "fixtures", "zip"))
os.makedirs(OUT, exist_ok=True)
FIXED = (2026, 1, 1, 0, 0, 0)


def read(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def write(zf, name, data, method=zipfile.ZIP_DEFLATED):
    info = zipfile.ZipInfo(name, FIXED)
    info.compress_type = method
    zf.writestr(info, data)


mc = read("www/examples/model_check_result.txt")
adv = read("www/examples/horizon_quant_analysis/abnormal_layer_advisor.txt")
scales = read("tests/fixtures/real/ort_int8/scales.json")

with zipfile.ZipFile(os.path.join(OUT, "reports.zip"), "w") as z:
    write(z, "run42/", b"", zipfile.ZIP_STORED)
    write(z, "run42/model_check_result.txt", mc)
    write(z, "run42/horizon_quant_analysis/abnormal_layer_advisor.txt", adv, zipfile.ZIP_STORED)
    write(z, "run42/scales.json", scales)
    write(z, "__MACOSX/run42/._model_check_result.txt", b"\0\5\26\7 mac metadata")

with zipfile.ZipFile(os.path.join(OUT, "flat.zip"), "w") as z:
    write(z, "model_check_result.txt", mc)

with zipfile.ZipFile(os.path.join(OUT, "nested.zip"), "w") as z:
    write(z, "inner.zip", read(os.path.join(OUT, "flat.zip")), zipfile.ZIP_STORED)

with zipfile.ZipFile(os.path.join(OUT, "empty.zip"), "w") as z:
    write(z, "run42/", b"", zipfile.ZIP_STORED)

# The bomb: write a real deflated member, then make both headers claim 1,000 bytes uncompressed.
with zipfile.ZipFile(os.path.join(OUT, "bomb.zip"), "w") as z:
    write(z, "model_check_result.txt", b" " * 10_000_000)
data = bytearray(open(os.path.join(OUT, "bomb.zip"), "rb").read())
raw = struct.pack("<I", 1000)
data[22:26] = raw  # local header: uncompressed size
cd = data.rfind(b"PK\x01\x02")
data[cd + 24:cd + 28] = raw  # central directory: uncompressed size
open(os.path.join(OUT, "bomb.zip"), "wb").write(bytes(data))

fixture_check.finish(os.path.join(ROOT, "tests", "fixtures", "zip"))
