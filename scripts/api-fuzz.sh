#!/usr/bin/env bash
# The API against its own OpenAPI document: a real `qcity up` on loopback, probed by
# schemathesis (an outside tester that reads only the document) with every check and a few
# dozen examples per operation. Fails on any failure. Used by `make api-fuzz` (in `make test`).
#   QCITY_BIN     the qcity binary (default target/debug/qcity)
#   ST            the schemathesis command (default: a venv in target/tools/st-venv, made here)
#   EXAMPLES      examples per operation (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
QCITY_BIN=${QCITY_BIN:-$PWD/target/debug/qcity}
EXAMPLES=${EXAMPLES:-30}
if [ -z "${ST:-}" ]; then
  venv=$PWD/target/tools/st-venv
  if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'schemathesis==4.*'
  fi
  ST=$venv/bin/schemathesis
fi
work=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/config"
cat > "$work/config/runner_manifest.json" <<'JSON'
{
  "runners": [
    {"name": "web", "command": ["sh", "-c", "echo listening; exec sleep 100000"],
     "probes": [{"name": "alive", "process": {}}]},
    {"name": "flaky", "command": ["sh", "-c", "echo 'error: boom'; exit 3"],
     "restart": {"policy": "never"}}
  ],
  "tasks": [{"name": "hello", "command": ["echo", "hello"], "autotest": true}]
}
JSON
echo '{"api": {"port": 0}, "platforms": {"enabled": false}}' > "$work/config/qcity-device-config.json"
QCITY_LOG=warn "$QCITY_BIN" up --config "$work/config" --data-dir "$work/data" &
pid=$!
for _ in $(seq 100); do [ -s "$work/data/daemon.json" ] && break; sleep 0.1; done
addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["addr"])' "$work/data/daemon.json")
token=$(cat "$work/data/token")
# The two endless streams (logs/follow, events/stream) are tested by the API's own tests; a
# fuzzer would only wait for their timeout.
"$ST" run "http://$addr/api/v1/openapi.json" \
  --url "http://$addr" \
  -H "Authorization: Bearer $token" \
  --checks all \
  --max-examples "$EXAMPLES" \
  --exclude-path-regex '(/follow|/stream)$' \
  --request-timeout 10 \
  --no-color \
  --seed 1
