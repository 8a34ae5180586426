#!/usr/bin/env bash
# Browser test of the embed_server example: builds it, starts it on the built-in fake with
# short-lived embed tokens, and drives the page in headless Chromium (web/browser-test.mjs says
# what it checks). Exits non-zero on any failure; prints the screenshot's path as an artifact.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
screenshot="$repo/target/browser-test/embed_server.png"
# Short enough that two renewals fit in the test, long enough that a slow CI machine does not
# see a token expire before the page has it.
lifetime_secs=12
server_pid=""
scratch="$(mktemp -d)"
server_log="$scratch/embed_server.log"

log() { echo "browser-test: $*"; }

stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap stop_server EXIT

if [[ ! -x /usr/bin/chromium ]]; then
  log "installing Debian's chromium"
  sudo=""
  [[ $EUID -ne 0 ]] && sudo="sudo"
  timeout 600 $sudo apt-get update -q
  timeout 600 $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

log "installing the npm packages pinned in examples/embed_server/web/package-lock.json"
timeout 300 bash examples/embed_server/install-js.sh --include=dev --loglevel=error

log "building the example"
timeout 900 cargo build --quiet --example embed_server

# PORT=0: the server picks a free port and prints it; no AZURE_TENANT_ID: the built-in fake.
env -u AZURE_TENANT_ID PORT=0 EMBED_TOKEN_LIFETIME_SECS="$lifetime_secs" \
  "$target_dir/debug/examples/embed_server" >"$server_log" 2>&1 &
server_pid=$!

url=""
for _ in $(seq 1 100); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$server_log" | head -n1 | sed 's/^listening on //')" || true
  [[ -n "$url" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the server exited before listening:"; cat "$server_log"; exit 1
  fi
  sleep 0.1
done
if [[ -z "$url" ]]; then
  log "the server did not print its address within 10 s:"; cat "$server_log"; exit 1
fi
log "server on $url"

status=0
(cd examples/embed_server/web &&
  EMBED_TOKEN_LIFETIME_SECS="$lifetime_secs" timeout 150 node browser-test.mjs "$url" "$screenshot") || status=$?
if [[ $status -ne 0 ]]; then
  log "failed (exit $status); server log:"; cat "$server_log"
fi
exit "$status"
