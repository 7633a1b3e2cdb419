#!/usr/bin/env python3
"""Trunk post_build hook: allow exactly the inline scripts Trunk wrote into index.html.

The page's Content-Security-Policy forbids inline scripts; Trunk's bootstrap is one. This adds the
SHA-256 of every inline <script> to `script-src`, so the CSP stays strict ('self' + these hashes).
"""
import base64
import hashlib
import os
import re
import sys

staging = os.environ.get("TRUNK_STAGING_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "dist")
path = os.path.join(staging, "index.html")
html = open(path, encoding="utf-8").read()
scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)
hashes = " ".join(
    "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode()
    for s in scripts
)
new, n = re.subn(r"script-src 'self'", "script-src 'self' " + hashes, html, count=1)
if n != 1:
    sys.exit("csp_hash.py: no script-src 'self' in the CSP of " + path)
open(path, "w", encoding="utf-8").write(new)
print("csp_hash.py: allowed %d inline script(s)" % len(scripts))
