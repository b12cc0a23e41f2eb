#!/usr/bin/env python3
"""Idle memory of `qcity up` with N runners, split as /proc/PID/smaps_rollup splits it:
anonymous (heap, stacks) and file-backed (the binary's code and data, shared libraries).

  bench/idle_pss.py [--bin target/release/qcity] [--n 200] [--settle 20] [--samples 5]

Prints one line per sample and the medians. The peer harness (bench/run.sh) measures the
total; this says what it is made of."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem")


def rollup(pid):
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in FIELDS:
            out[key] = int(rest.split()[0]) / 1024
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qcity")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--settle", type=float, default=20)
    ap.add_argument("--samples", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d, "config")
        conf.mkdir()
        runners = [{"name": f"r{i}", "command": ["sleep", "100000"]} for i in range(a.n)]
        (conf / "runner_manifest.json").write_text(json.dumps({"runners": runners}))
        (conf / "qcity-device-config.json").write_text(json.dumps({"api": {"port": 0}, "platforms": {"enabled": False}}))
        env = dict(os.environ, QCITY_LOG="warn")
        p = subprocess.Popen([a.bin, "up", "--config", str(conf), "--data-dir", f"{d}/data"], env=env)
        try:
            time.sleep(a.settle)
            samples = []
            for _ in range(a.samples):
                s = rollup(p.pid)
                samples.append(s)
                print("  ".join(f"{k} {s[k]:.1f}" for k in FIELDS), "MiB")
                time.sleep(2)
            print("median:", "  ".join(f"{k} {statistics.median(x[k] for x in samples):.1f}" for k in FIELDS), "MiB")
        finally:
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
