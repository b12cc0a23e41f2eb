#!/usr/bin/env bash
# The peer harness's crash storm (50 runners each exiting every 100 ms, restart delay 0, crash-loop
# detection off) for QCity with its healer on (the default) and off, beside supervisord and pm2,
# interleaved in one session so that the machine's load falls on all of them alike.
#   bench/storm_healer.sh                  3 repeats; raw rows in bench/results/storm-healer/
#   bench/storm_healer.sh --repeats 2
# QCITYD         the qcity binary (default target/release/qcity, built without LTO when missing)
# QCITYD_LABEL   how QCITYD is named in the rows (default: HEAD's short hash; name the binary's own
#                commit when it was built from another one)
# QCITYD_BEFORE  optional: another binary (an older commit), measured first in each repeat, healer on,
#                named QCITYD_BEFORE_LABEL (default "before")
# The adapter writes only the manifest, so the healer is on; "healer off" runs the same binary
# through a wrapper that adds `{"healer": {"enabled": false}}` as the device config.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
peers_dir=${PEERS_DIR:-$root/../shared/bench/peers}
repeats=3
if [ "${1:-}" = "--repeats" ]; then repeats=$2; fi
bin=${QCITYD:-$root/target/release/qcity}
[ -x "$bin" ] || (cd "$root" && CARGO_PROFILE_RELEASE_LTO=false cargo build --release -p qcity)
"$peers_dir/setup.sh"
out=${OUT_DIR:-$here/results/storm-healer}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
off="$tmp/qcity-healer-off"
cat > "$off" <<EOF
#!/bin/sh
# qcity up --config DIR --data-dir DIR, with the healer off in DIR's device config
printf '{"healer": {"enabled": false}}\n' > "\$3/qcity-device-config.json"
exec "$bin" "\$@"
EOF
chmod +x "$off"
rev=${QCITYD_LABEL:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo dev)}
storm() { "$peers_dir/run_bench.py" --scenarios storm --repeats 1 --first-repeat "$1" --out-dir "$out" --peers "$2"; }
for rep in $(seq 1 "$repeats"); do
  if [ -n "${QCITYD_BEFORE:-}" ]; then
    QCITYD=$QCITYD_BEFORE QCITYD_VERSION=${QCITYD_BEFORE_LABEL:-before}-healer-on storm "$rep" qcity
  fi
  QCITYD=$bin QCITYD_VERSION=$rev-healer-on storm "$rep" qcity
  QCITYD=$off QCITYD_VERSION=$rev-healer-off storm "$rep" qcity
  storm "$rep" supervisord,pm2
done
