#!/usr/bin/env python3
"""Trunk post_build hook. Trunk runs the hooks of one stage concurrently, so their order lives here:
first csp_hash.py (it rewrites index.html) and loader_shim.py (the workers' loaders), then sw_gen.py (it hashes every file, index.html included).
"""
import os
import runpy

here = os.path.dirname(os.path.abspath(__file__))
for script in ("csp_hash.py", "loader_shim.py", "sw_gen.py"):
    runpy.run_path(os.path.join(here, script), run_name="__main__")
