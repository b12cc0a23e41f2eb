#!/usr/bin/env python3
"""Self-update timings (issue 19): a `qcity up` with N runners updates itself to a newer
build, then rolls back by hand, then (a second daemon) rolls back automatically when the new
version fails its autotest. The API is polled every 50 ms throughout.

Measured, per repeat:
- apply -> serving: from POST /update/apply until the new version answers with every runner
  running again;
- commit: until the new version has passed its check (`last.step == committed`);
- API downtime: the longest gap between two answered polls while the daemon restarts;
- rollback (by hand): POST /update/rollback until the old version serves with every runner;
- automatic rollback: apply until the old version serves again, when the new version's
  autotest fails (bounded by update.check_deadline_seconds, given here).

Binaries: --old (default target/release/qcity) and --new (a build of the same source with
QCITY_BUILD_VERSION=99.0.0; `bench/update_apply.py --build` makes both, release profile).
The release is signed with a bench key by crates/qcity-update/examples/sign_release.rs.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEWER = "99.0.0"


def build():
    env = dict(os.environ, QCITY_BUILD_VERSION=NEWER)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "qcity"], cwd=ROOT, env=env, check=True)
    os.makedirs(os.path.join(ROOT, "target/update-test"), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "target/release/qcity"), os.path.join(ROOT, f"target/update-test/qcity-{NEWER}-release"))
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "qcity"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, old, new, runners, failing_check, deadline):
        self.dir = tempfile.mkdtemp(prefix="qcity-update-bench-")
        self.conf = os.path.join(self.dir, "config")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.conf)
        self.port = free_port()
        self.runners = [f"r{i}" for i in range(runners)]
        check = "true"
        if failing_check:
            check = f'case "$({self.data}/versions/current/qcity --version 2>/dev/null)" in *{NEWER}*) exit 3;; esac'
        manifest = {
            "runners": [{"name": n, "command": ["sh", "-c", "exec sleep 3600"]} for n in self.runners],
            "tasks": [{"name": "smoke", "command": ["sh", "-c", check], "autotest": True}],
        }
        with open(os.path.join(self.conf, "runner_manifest.json"), "w") as f:
            json.dump(manifest, f)
        signer = os.path.join(ROOT, "target/debug/examples/sign_release")
        key = subprocess.run([signer, new, NEWER, os.path.join(self.conf, "release")], capture_output=True, text=True, check=True).stdout.strip()
        device = {
            "api": {"port": self.port},
            "platforms": {"enabled": False},
            "update": {"manifest": "release/update.json", "public_key": key, "check_deadline_seconds": deadline},
        }
        with open(os.path.join(self.conf, "qcity-device-config.json"), "w") as f:
            json.dump(device, f)
        self.proc = subprocess.Popen([old, "up", "--config", self.conf, "--data-dir", self.data],
                                     env=dict(os.environ, QCITY_LOG="warn"), stdin=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.wait(lambda: self.serving() is not None, 30, "the daemon up")

    def token(self):
        with open(os.path.join(self.data, "token")) as f:
            return f.read().strip()

    def call(self, method, path, timeout=5):
        req = urllib.request.Request(self.base + path, method=method, headers={"Authorization": "Bearer " + self.token()})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def last_step(self):
        """The step of the last update's outcome, or None (also while the API is down)."""
        try:
            view = self.call("GET", "/update", timeout=30)[1] or {}
        except (OSError, ValueError):
            return None
        return (view.get("last") or {}).get("step")

    def version(self):
        try:
            with open(os.path.join(self.data, "daemon.json")) as f:
                return json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            return None

    def serving(self):
        """(version, runners running) when the API answers, else None."""
        try:
            status, runners = self.call("GET", "/runners", timeout=1)
        except (OSError, ValueError):
            return None
        if status != 200:
            return None
        return self.version(), sum(1 for r in runners if r["state"]["state"] == "running")

    @staticmethod
    def wait(cond, limit, what):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if cond():
                return time.monotonic()
            time.sleep(0.01)
        raise SystemExit(f"timed out waiting for {what}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


POLL_S = 0.05


class Poller(threading.Thread):
    """GET /runners every POLL_S; the times of the answered ones."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d, self.ok, self.done = d, [], False

    def run(self):
        while not self.done:
            t = time.monotonic()
            if self.d.serving() is not None:
                self.ok.append(t)
            time.sleep(max(0.0, POLL_S - (time.monotonic() - t)))

    def longest_gap(self, start, end):
        ts = [t for t in self.ok if start <= t <= end]
        return max((b - a for a, b in zip(ts, ts[1:])), default=0.0)


def measure(d, path, want_version, old):
    n = len(d.runners)
    poller = Poller(d)
    poller.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    status, body = d.call("POST", path, timeout=120)
    assert status == 202, (status, body)
    # The daemon answers before it stops: wait for the restart to begin.
    d.wait(lambda: d.serving() is None or d.version() != old, 60, "the restart")
    t_serving = d.wait(lambda: (s := d.serving()) is not None and s == (want_version, n), 120, f"{want_version} serving")
    poller.done = True
    poller.join()
    return t0, t_serving, poller.longest_gap(t0, t_serving)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", default=os.path.join(ROOT, "target/release/qcity"))
    ap.add_argument("--new", default=os.path.join(ROOT, f"target/update-test/qcity-{NEWER}-release"))
    ap.add_argument("--runners", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--deadline", type=int, default=10, help="update.check_deadline_seconds for the automatic rollback")
    ap.add_argument("--build", action="store_true", help="build --old and --new (release) first")
    ap.add_argument("--poll-ms", type=int, default=50, help="how often the API is polled (the downtime's resolution)")
    args = ap.parse_args()
    global POLL_S
    POLL_S = args.poll_ms / 1000
    if args.build:
        build()
    subprocess.run(["cargo", "build", "-q", "-p", "qcity-update", "--example", "sign_release"], cwd=ROOT, check=True)
    old = subprocess.run([args.old, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    rows = {k: [] for k in ("apply", "commit", "apply_gap", "rollback", "rollback_gap", "auto_rollback")}
    for rep in range(args.repeats):
        d = Daemon(args.old, args.new, args.runners, False, args.deadline)
        try:
            d.wait(lambda: d.serving() == (old, args.runners), 30, "every runner running")
            assert d.call("POST", "/autotest", timeout=60)[0] == 200
            t0, t_serving, gap = measure(d, "/update/apply", NEWER, old)
            t_commit = d.wait(lambda: d.last_step() == "committed", 120, "the commit")
            rows["apply"].append(t_serving - t0)
            rows["commit"].append(t_commit - t0)
            rows["apply_gap"].append(gap)
            t0, t_back, gap = measure(d, "/update/rollback", old, NEWER)
            rows["rollback"].append(t_back - t0)
            rows["rollback_gap"].append(gap)
        finally:
            d.stop()
        d = Daemon(args.old, args.new, args.runners, True, args.deadline)
        try:
            d.wait(lambda: d.serving() == (old, args.runners), 30, "every runner running")
            assert d.call("POST", "/autotest", timeout=60)[0] == 200
            t0, _, _ = measure(d, "/update/apply", NEWER, old)
            t_back = d.wait(lambda: (s := d.serving()) is not None and s == (old, args.runners)
                            and d.last_step() == "rolled-back", 300, "the automatic rollback")
            rows["auto_rollback"].append(t_back - t0)
        finally:
            d.stop()
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in rows.items() if v), file=sys.stderr)
    print(f"\n{args.runners} runners, {args.repeats} repeats, {os.path.basename(args.old)} {old} -> {NEWER}; median (min-max), seconds\n")
    print("| measure | median | min | max |\n|---|---|---|---|")
    names = {
        "apply": "apply -> new version serving, every runner running",
        "commit": "apply -> new version committed (autotest passed)",
        "apply_gap": f"API downtime during apply (longest gap between answers, {args.poll_ms} ms polls)",
        "rollback": "rollback by hand -> old version serving, every runner running",
        "rollback_gap": "API downtime during the rollback",
        "auto_rollback": f"apply -> automatic rollback, old version serving (check deadline {args.deadline} s)",
    }
    for k, label in names.items():
        v = rows[k]
        if v:
            print(f"| {label} | {statistics.median(v):.3f} | {min(v):.3f} | {max(v):.3f} |")


if __name__ == "__main__":
    main()
