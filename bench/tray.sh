#!/usr/bin/env bash
# The tray app's memory and cold start (bench/tray.py) on a private X display and D-Bus
# session with a StatusNotifierItem watcher and a notification server. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/tray.json}
mkdir -p "$(dirname "$out")"
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash -c '
  status-notifier-watcher >/dev/null 2>&1 & w=$!
  dunst >/dev/null 2>&1 & d=$!
  trap "kill $w $d" EXIT
  sleep 1
  python3 bench/tray.py "$1"
' _ "$out"
