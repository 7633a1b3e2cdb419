#!/usr/bin/env bash
# Installs whatever is missing, builds the app and serves it on http://127.0.0.1:8080, opening the
# bundled example (http://127.0.0.1:8080/?example) in a browser when one is available.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
scripts/setup.sh app
cargo fetch --locked
url="http://127.0.0.1:8080/?example"
(
  # Open the example once the server answers (trunk builds first).
  for _ in $(seq 1 600); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/', timeout=1)" 2>/dev/null; then
      printf '\n\033[1;32mQuantLens is ready: %s\033[0m\n\n' "$url"
      for opener in xdg-open open; do
        if command -v "$opener" >/dev/null; then "$opener" "$url" >/dev/null 2>&1 || true; break; fi
      done
      exit 0
    fi
    sleep 1
  done
) &
exec trunk serve --release --offline --address 127.0.0.1 --port 8080
