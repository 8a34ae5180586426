#!/usr/bin/env bash
# Installs the embed_server example's browser packages (powerbi-client and what it needs) from
# the npm registry, at exactly the versions in web/package-lock.json, into web/node_modules,
# where the example server serves them from. Extra arguments go to `npm ci`; the browser test
# passes --include=dev to get playwright-core as well.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/web"
if ! command -v npm >/dev/null; then
  echo "install-js.sh: npm is not installed (it comes with Node.js)" >&2
  exit 1
fi
npm ci --omit=dev --no-audit --no-fund "$@"
