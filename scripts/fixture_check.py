"""`--check` for fixture generators: regenerate into a temporary folder and compare with what is
committed. Zips (.npz, torch.save archives) are compared member by member (their timestamps are not
data), JSON by value (numbers within `json_rtol` where the generator gives one: ONNX Runtime's
results differ by CPU), everything else byte for byte. Exit status 1 and the differing files on a
mismatch.

A generator uses it as:  OUT = fixture_check.out_dir(default_out)  at import, and
fixture_check.finish(default_out) at the end of main().
"""
import atexit
import json
import os
import shutil
import sys
import tempfile
import zipfile

CHECK = "--check" in sys.argv
_TMP = tempfile.mkdtemp(prefix="ql-fixture-check-") if CHECK else None
if _TMP:
    atexit.register(shutil.rmtree, _TMP, True)


def out_dir(default_out):
    """Where the generator writes: a temporary folder when checking."""
    if not CHECK:
        return default_out
    d = os.path.join(_TMP, os.path.basename(default_out.rstrip("/")))
    os.makedirs(d, exist_ok=True)
    return d


def _close(x, y, rtol):
    """JSON values equal, numbers within `rtol` of the larger (0: exactly)."""
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_close(x[k], y[k], rtol) for k in x)
    if isinstance(x, list):
        return isinstance(y, list) and len(x) == len(y) and all(_close(p, q, rtol) for p, q in zip(x, y))
    if isinstance(x, float) and isinstance(y, float) and rtol:
        return abs(x - y) <= rtol * max(abs(x), abs(y)) + 1e-300
    return x == y and type(x) is type(y)


def _same(a, b, json_rtol=0.0):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        if fa.read() == fb.read():
            return True
    if zipfile.is_zipfile(a) and zipfile.is_zipfile(b):
        with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
            na, nb = sorted(za.namelist()), sorted(zb.namelist())
            if [n.split("/", 1)[-1] for n in na] != [n.split("/", 1)[-1] for n in nb]:
                return False
            return all(za.read(x) == zb.read(y) for x, y in zip(na, nb))
    if a.endswith(".json"):
        with open(a) as fa, open(b) as fb:
            return _close(json.load(fa), json.load(fb), json_rtol)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def finish(default_out, json_rtol=0.0):
    """After generating: in check mode, compare every generated file with the committed one (JSON
    numbers within `json_rtol`, relative)."""
    if not CHECK:
        return
    gen = out_dir(default_out)
    bad = []
    for root, _, files in os.walk(gen):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), gen)
            committed = os.path.join(default_out, rel)
            if not os.path.exists(committed) or not _same(os.path.join(root, name), committed, json_rtol):
                bad.append(rel)
    if bad:
        print(f"{default_out}: differs from its generator: {', '.join(sorted(bad))}")
        sys.exit(1)
    print(f"{default_out}: every fixture is what its generator writes")
