#!/usr/bin/env bash
# Scores the log-template miner on Loghub-2k with ../shared/bench/logparse/score.py, warm
# (--repeat 20), and drain3 (generic config: one setting for every source, as ours) in the
# same run. The data is research-only: it is read from ../shared, never copied here.
# usage: bench/logparse.sh [PYTHON_WITH_DRAIN3]   (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-python3}"
shared=../shared
out=bench/results
mkdir -p "$out"
cargo build --release --locked -p qcity-logminer
bin="${CARGO_TARGET_DIR:-target}/release/qcity-logminer"
python3 "$shared/bench/logparse/score.py" "$shared/datasets/loghub-2k" --runs 3 --repeat 20 \
  --json "$out/logparse-qcity.json" -- "$bin" | tee "$out/logparse-qcity.txt"
"$py" "$shared/bench/logparse/score.py" "$shared/datasets/loghub-2k" --runs 3 --repeat 20 \
  --json "$out/logparse-drain3-generic.json" -- "$py" "$shared/bench/logparse/drain3_adapter.py" --config generic \
  | tee "$out/logparse-drain3-generic.txt"
