#!/usr/bin/env python3
"""Trunk post_build hook: make the workers' loader shims call wasm-bindgen's init with one object.

Trunk 0.21.14 writes `wasm_bindgen("./worker_bg.wasm")` into each `*_loader.js`; wasm-bindgen
0.2.130 accepts that but logs "using deprecated parameters for the initialization function" in
every worker. This rewrites the call to `wasm_bindgen({ module_or_path: "./worker_bg.wasm" })`.
A shim in any other form stops the build, so a Trunk upgrade that changes it is seen.
"""
import glob
import os
import re
import sys

staging = os.environ.get("TRUNK_STAGING_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "dist")
shims = sorted(glob.glob(os.path.join(staging, "*_loader.js")))
if not shims:
    sys.exit("loader_shim.py: no *_loader.js in " + staging)
for path in shims:
    text = open(path, encoding="utf-8").read()
    new, n = re.subn(r'wasm_bindgen\(("\./[A-Za-z0-9_.-]+_bg\.wasm")\)', r"wasm_bindgen({ module_or_path: \1 })", text)
    if n != 1 and "module_or_path" not in text:
        sys.exit("loader_shim.py: unexpected loader shim in %s: %r" % (path, text))
    open(path, "w", encoding="utf-8").write(new)
print("loader_shim.py: %d worker loader(s) call init with one object" % len(shims))
