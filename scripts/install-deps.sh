#!/usr/bin/env bash
# Installs what building and testing QCity needs on a fresh Debian/Ubuntu machine that has
# Rust, gcc, Python 3 and Node. Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
command -v pkg-config >/dev/null || need+=(pkg-config)
# promtool checks the /metrics exposition; chromium runs the dashboard's browser tests.
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
fi
