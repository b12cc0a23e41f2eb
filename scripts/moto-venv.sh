#!/usr/bin/env bash
# An S3-compatible server for the offload's object-store tests: moto (PyPI `moto[server]`) in
# a venv under target/tools, made once. Prints the venv's bin dir. Used by `make test`; the
# tests find it there (or at $QCITY_MOTO_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/target/tools/moto-venv
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'moto[server]==5.2.5'
fi
echo "$venv/bin"
