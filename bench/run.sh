#!/usr/bin/env bash
# Runs the peer-supervisor benchmark from ../shared/bench/peers against the release `qcity`
# binary, writing raw CSVs and the report (results-peers.md) into bench/results/ of this project.
#   bench/run.sh                         qcity, supervisord and pm2, every scenario
#   PEERS=qcity SCENARIOS=restart bench/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
peers_dir=${PEERS_DIR:-$root/../shared/bench/peers}
[ -x "$root/target/release/qcity" ] || (cd "$root" && cargo build --release --locked -p qcity)
"$peers_dir/setup.sh"
mkdir -p "$here/results"
QCITYD="$root/target/release/qcity" QCITYD_VERSION="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo dev)" \
  "$peers_dir/run_bench.py" --peers "${PEERS:-qcity,supervisord,pm2}" \
  --scenarios "${SCENARIOS:-restart,startup,storm,idle}" --out-dir "$here/results" "$@"
"$here/report.py" "$peers_dir"
