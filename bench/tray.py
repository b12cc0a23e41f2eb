#!/usr/bin/env python3
"""Memory and start-up of the tray app, as a desktop sees it.

Run under its own X display and D-Bus session (bench/tray.sh does that):
  - cold start: from spawn to the tray item registered with the StatusNotifierItem watcher
    (polled every 5 ms over D-Bus), median of N runs;
  - memory (RSS and PSS from /proc/PID/smaps_rollup, and how much of the RSS is anonymous) of
    the tray process, idle 10 s after the start with the window never opened, then after
    opening the dashboard window (through a second launch, as a user would) and closing it;
    also the window's own process (`qcity-dashboard`, started by the tray) and its WebKit
    helper processes, which are the window's cost, and that none of them is left after the
    close.
Both engine modes: the tray attached to a running `qcity up`, and the engine in-process.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TRAY = os.environ.get("QCITY_TRAY_BIN", "target/release/qcity-tray")
QCITY = os.environ.get("QCITY_BIN", "target/release/qcity")
RUNS = int(os.environ.get("RUNS", "5"))


def registered():
    out = subprocess.run(
        ["gdbus", "call", "--session", "--dest", "org.kde.StatusNotifierWatcher", "--object-path",
         "/StatusNotifierWatcher", "--method", "org.freedesktop.DBus.Properties.Get",
         "org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems"],
        capture_output=True, text=True).stdout
    return "':" in out


def rollup(pid):
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return fields


def mem(pid):
    m = rollup(pid)
    return m["Rss"], m["Pss"]


def window_procs(pid):
    found = []
    for c in children(pid):
        try:
            # `qcity-dashboard`; a build from before it was a program of its own: `--window`.
            args = open(f"/proc/{c}/cmdline").read().split("\0")
            if os.path.basename(args[0]) == "qcity-dashboard" or "--window" in args:
                found.append(c)
        except OSError:
            pass
    return found


def top_mappings(pid, n=8):
    """The files (and [heap], anonymous) holding most of a process's RSS, in MiB."""
    per = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anonymous]"
            elif parts[0] == "Rss:":
                per[name] = per.get(name, 0) + int(parts[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:n]}


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = []
    for c in out:
        found.append(int(c))
        found.extend(children(int(c)))
    return found


def webkit_mem(pid):
    total = 0.0
    for c in children(pid):
        try:
            name = open(f"/proc/{c}/comm").read().strip()
        except OSError:
            continue
        if name.startswith("WebKit"):
            total += mem(c)[1]
    return total


def setup(work, runners=3):
    conf = os.path.join(work, "config")
    os.makedirs(conf, exist_ok=True)
    json.dump({"runners": [{"name": f"r{i}", "command": ["sleep", "3600"]} for i in range(runners)]},
              open(os.path.join(conf, "runner_manifest.json"), "w"))
    json.dump({"api": {"port": 0}, "platforms": {"enabled": False}}, open(os.path.join(conf, "qcity-device-config.json"), "w"))
    return conf, os.path.join(work, "data")


def env(work):
    e = dict(os.environ, TMPDIR=os.path.join(work, "tmp"), XDG_CONFIG_HOME=os.path.join(work, "xdg"),
             QCITY_LOG="warn")
    os.makedirs(e["TMPDIR"], exist_ok=True)
    return e


def wait(cond, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.005)
    raise SystemExit("timed out")


def measure(mode):
    starts = []
    result = {}
    for run in range(RUNS):
        work = tempfile.mkdtemp(prefix="qcity-tray-bench-")
        conf, data = setup(work)
        daemon = None
        if mode == "attached":
            daemon = subprocess.Popen([QCITY, "up", "--config", conf, "--data-dir", data], env=env(work))
            wait(lambda: os.path.exists(os.path.join(data, "daemon.json")))
        t0 = time.perf_counter()
        tray = subprocess.Popen([TRAY, "--data-dir", data, "--config", conf], env=env(work))
        wait(registered)
        starts.append((time.perf_counter() - t0) * 1000)
        if run == RUNS - 1:
            time.sleep(10)
            result["idle_rss_mb"], result["idle_pss_mb"] = mem(tray.pid)
            result["idle_anon_mb"] = rollup(tray.pid)["Anonymous"]
            result["idle_top_mappings_mb"] = top_mappings(tray.pid)
            second = subprocess.Popen([TRAY, "--data-dir", data, "--config", conf], env=env(work))
            second.wait(timeout=30)
            wait(lambda: subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^QCity$"],
                                        capture_output=True).returncode == 0)
            time.sleep(5)
            result["open_rss_mb"], result["open_pss_mb"] = mem(tray.pid)
            result["open_webkit_pss_mb"] = webkit_mem(tray.pid)
            wins = window_procs(tray.pid)
            result["open_window_processes"] = len(wins)
            if wins:
                result["open_window_rss_mb"], result["open_window_pss_mb"] = mem(wins[0])
            wid = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^QCity$"],
                                 capture_output=True, text=True).stdout.split()[0]
            subprocess.run(["/usr/bin/python3", "src-tauri/tests/wm-close.py", wid], check=True)
            time.sleep(10)
            result["closed_rss_mb"], result["closed_pss_mb"] = mem(tray.pid)
            result["closed_webkit_pss_mb"] = webkit_mem(tray.pid)
            result["closed_window_processes"] = len(window_procs(tray.pid))
            result["closed_anon_mb"] = rollup(tray.pid)["Anonymous"]
        tray.terminate()
        try:
            tray.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # A build from before the tray quit on SIGTERM: end it, and its runners.
            tray.kill()
            tray.wait()
            subprocess.run(["pkill", "-f", "^sleep 3600$"])
        if daemon:
            daemon.terminate()
            daemon.wait(timeout=30)
        wait(lambda: not registered(), timeout=10)
    result["cold_start_ms_median"] = statistics.median(starts)
    result["cold_start_ms_all"] = [round(s) for s in starts]
    return result


if __name__ == "__main__":
    out = {mode: measure(mode) for mode in ("attached", "in-process")}
    print(json.dumps(out, indent=2))
    if len(sys.argv) > 1:
        json.dump(out, open(sys.argv[1], "w"), indent=2)
