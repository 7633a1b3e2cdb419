#!/usr/bin/env python3
"""Trunk post_build hook: write the service worker (sw.js) that precaches exactly this build.

Lists every file in the staged build (TRUNK_STAGING_DIR, or the folder given as the first argument)
except sw.js itself, with its SHA-256, and names the version after all of them: any change to any
file (index.html, a hashed asset, an unhashed one like worker_bg.wasm, an example) is a new version,
hence a new cache, and the old one is deleted when the new worker activates. Run after csp_hash.py,
so the index.html that is hashed is the final one. The worker's code is scripts/sw_template.js.
"""
import hashlib
import json
import os
import sys
import urllib.parse

here = os.path.dirname(os.path.abspath(__file__))
staging = os.environ.get("TRUNK_STAGING_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "dist")

DEV_SW = """// QuantLens service worker for a development build (trunk serve): caches nothing, removes itself.
"use strict";
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil((async () => {
  const prefix = "quantlens " + self.registration.scope + " ";
  for (const name of await caches.keys()) if (name.startsWith(prefix)) await caches.delete(name);
  await self.registration.unregister();
})()));
"""

files = []
for root, dirs, names in os.walk(staging):
    dirs.sort()
    for name in sorted(names):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, staging).replace(os.sep, "/")
        if rel == "sw.js":
            continue
        files.append((rel, open(path, "rb").read()))
files.sort()
if not any(rel == "index.html" for rel, _ in files):
    sys.exit("sw_gen.py: no index.html in " + staging)

version = hashlib.sha256()
listing = []
for rel, data in files:
    sha = hashlib.sha256(data).hexdigest()
    version.update(rel.encode() + b"\0" + sha.encode() + b"\n")
    listing.append([urllib.parse.quote(rel), sha])
version = version.hexdigest()[:16]

# `trunk serve` injects its live-reload script: a development build. Its sw.js caches nothing and
# removes itself (and any cache an earlier build of this site left), so every rebuild shows at once.
index_html = dict(files)["index.html"].decode("utf-8", "replace")
if ".well-known/trunk/ws" in index_html:
    open(os.path.join(staging, "sw.js"), "w", encoding="utf-8").write(DEV_SW)
    print("sw_gen.py: development build (trunk serve): sw.js caches nothing and unregisters itself")
    sys.exit(0)

template = open(os.path.join(here, "sw_template.js"), encoding="utf-8").read()
body = "[\n" + "".join("  %s,\n" % json.dumps(entry) for entry in listing) + "]"
out = template.replace('"__VERSION__"', json.dumps(version)).replace("__FILES__", body)
if "__VERSION__" in out or "__FILES__" in out:
    sys.exit("sw_gen.py: the template's placeholders were not replaced")
open(os.path.join(staging, "sw.js"), "w", encoding="utf-8").write(out)
size = sum(len(d) for _, d in files)
print("sw_gen.py: sw.js precaches %d files (%.1f MB), version %s" % (len(files), size / 1e6, version))
