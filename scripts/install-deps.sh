#!/usr/bin/env bash
# Installs what building and testing QCity needs on a fresh Debian/Ubuntu machine that has
# Rust, gcc, Python 3 and Node. Idempotent: installs only the Debian packages that are missing.
set -euo pipefail
pkgs=(
  make pkg-config
  # promtool checks the /metrics exposition; chromium runs the dashboard's browser tests.
  prometheus chromium
  # The tray app (Tauri 2): WebKitGTK, GTK, the AppIndicator tray, SVG icons.
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev
  libxdo-dev build-essential file
  # Its headless tests: an X display, a D-Bus session, a StatusNotifierItem watcher, a
  # notification server, WebKitWebDriver (driven through tauri-driver), X tools, ImageMagick (the icon's colour), python3-xlib (closing a
  # window as a window manager would).
  xvfb xauth dbus dbus-x11 dunst x11-utils xdotool imagemagick webkit2gtk-driver
  haskell-status-notifier-item-utils libglib2.0-bin python3 python3-xlib
  # systemd-analyze checks the unit `qcity service install --user` writes.
  systemd
  # The secrets' tests: a real Secret Service (gnome-keyring-daemon) and secret-tool to look.
  gnome-keyring libsecret-tools
  # The email channel's tests: a real SMTP sink (aiosmtpd, run by /usr/bin/python3).
  python3-aiosmtpd
  # The SSH offload: the system `ssh` it drives, and a private sshd on loopback for its tests.
  openssh-client openssh-server
  # The fleet's tests: a real NATS server with JetStream (Debian's 2.9), started by the tests.
  nats-server
  # `qcity status` on a terminal: `script` gives the CLI's test a pty (Essential in Debian;
  # listed for images that dropped it).
  bsdutils
)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# The package starts its own server on port 4222 where systemd runs; the tests start theirs.
if command -v systemctl >/dev/null && systemctl is-active --quiet nats-server 2>/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo systemctl disable --now nats-server >/dev/null 2>&1 || true
fi
