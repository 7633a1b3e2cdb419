#!/usr/bin/env python3
"""Trunk post_build hook: allow exactly the inline scripts Trunk wrote into index.html.

The page's Content-Security-Policy forbids inline scripts; Trunk's bootstrap is one. This adds the
SHA-256 of every inline <script> to `script-src`, so the CSP stays strict ('self' + these hashes).

A deployment that wants links (`?src=`) to load report files from other origins names them at build
time: QUANTLENS_ALLOW_ORIGINS="https://ci.example.com https://artifacts.example.com" trunk build …
adds exactly those origins to `connect-src` (the app still asks the user before each such load).
"""
import base64
import hashlib
import os
import re
import sys

staging = os.environ.get("TRUNK_STAGING_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "dist")
path = os.path.join(staging, "index.html")
html = open(path, encoding="utf-8").read()
# Chromium ignores `integrity` on a preload of destination `fetch` (the wasm Trunk preloads) and
# logs a warning on every load: drop it there. The wasm is still fetched from this origin only, and
# the module preloads keep theirs.
html = re.sub(r'(<link rel="preload"[^>]*?) integrity="[^"]*"([^>]*as="fetch")', r"\1\2", html)
scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)
hashes = " ".join(
    "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode()
    for s in scripts
)
new, n = re.subn(r"script-src 'self'", "script-src 'self' " + hashes, html, count=1)
if n != 1:
    sys.exit("csp_hash.py: no script-src 'self' in the CSP of " + path)
origins = os.environ.get("QUANTLENS_ALLOW_ORIGINS", "").split()
for o in origins:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?", o):
        sys.exit("csp_hash.py: QUANTLENS_ALLOW_ORIGINS takes origins like https://host[:port], not " + o)
if origins:
    new, n = re.subn(r"connect-src 'self'", "connect-src 'self' " + " ".join(origins), new, count=1)
    if n != 1:
        sys.exit("csp_hash.py: no connect-src 'self' in the CSP of " + path)
    print("csp_hash.py: links may load files from " + " ".join(origins))
open(path, "w", encoding="utf-8").write(new)
print("csp_hash.py: allowed %d inline script(s)" % len(scripts))
