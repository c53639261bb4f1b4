#!/usr/bin/env bash
# Install what is needed, build the page into dist/ and serve it on http://127.0.0.1:8080
# (pass --port N to change the port).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-web.sh
exec node scripts/serve.mjs "$@"
