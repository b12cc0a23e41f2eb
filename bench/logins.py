#!/usr/bin/env python3
"""The daemon's memory under concurrent logins: Argon2id takes ~19 MiB per hash, so what
bounds the peak is how many hashes run at once.

  bench/logins.py [--bin target/release/qcity] [--n 100]

Creates a user, then sends N logins with its right password at once (right ones: wrong ones
are rate-limited before hashing) and prints the daemon's RSS before and its peak (VmHWM)
after, with the time the burst took."""
import argparse
import concurrent.futures
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def status_kib(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def request(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qcity")
    ap.add_argument("--n", type=int, default=100)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d, "config")
        conf.mkdir()
        (conf / "runner_manifest.json").write_text(json.dumps({"runners": []}))
        (conf / "qcity-device-config.json").write_text(json.dumps({"api": {"port": 0}, "platforms": {"enabled": False}}))
        p = subprocess.Popen([a.bin, "up", "--config", str(conf), "--data-dir", f"{d}/data"],
                             env=dict(os.environ, QCITY_LOG="warn"))
        try:
            info = Path(d, "data", "daemon.json")
            for _ in range(100):
                if info.exists():
                    break
                time.sleep(0.1)
            base = "http://" + json.loads(info.read_text())["addr"] + "/api/v1"
            token = Path(d, "data", "token").read_text().strip()
            assert request(base, "PUT", "/users/ann", {"role": "viewer", "password": "right-password"}, token) == 200
            before = status_kib(p.pid, "VmRSS")
            start = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(a.n) as pool:
                codes = list(pool.map(lambda _: request(base, "POST", "/auth/login",
                                                        {"user": "ann", "password": "right-password"}),
                                      range(a.n)))
            took = time.monotonic() - start
            peak = status_kib(p.pid, "VmHWM")
            print(f"{a.n} concurrent logins: {codes.count(200)} ok, {len(codes) - codes.count(200)} other "
                  f"in {took:.1f} s; RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB")
        finally:
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
