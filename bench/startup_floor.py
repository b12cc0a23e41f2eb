#!/usr/bin/env python3
"""Start-up of 200 runners against this machine's floor, in one run.

  bench/startup_floor.py [--bin target/release/qcity] [--n 200] [--repeats 5]

The floor: bench/startup_floor.c spawns the peer harness's child (../shared/bench/peers/child.c,
static) N times in a bare loop, with the harness's arguments (its start line, then a pidfile).
QCity: `qcity up` on its defaults with the same N children, timed from its own launch, as the
harness times it. Both: seconds until the last child wrote its start line."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD_C = HERE.parent.parent / "shared/bench/peers/child.c"


def started(ev, n, t0):
    while True:
        time.sleep(0.05)
        if ev.exists():
            ts = [int(line.split()[3]) for line in ev.read_text().splitlines() if line.startswith("S")]
            if len(ts) >= n:
                return (max(ts) - t0) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(HERE.parent / "target/release/qcity"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tools:
        child, floor = f"{tools}/qchild", f"{tools}/startup_floor"
        subprocess.run(["gcc", "-O2", "-static", "-o", child, str(CHILD_C)], check=True)
        subprocess.run(["gcc", "-O2", "-o", floor, str(HERE / "startup_floor.c")], check=True)
        results = {"floor": [], "qcity": []}
        for _ in range(a.repeats):
            with tempfile.TemporaryDirectory() as d:
                ev, pids = Path(d, "events.log"), Path(d, "pids")
                pids.mkdir()
                p = subprocess.Popen([floor, child, str(ev), str(pids), str(a.n)], stdout=subprocess.PIPE, text=True)
                t0 = int(p.stdout.readline())
                results["floor"].append(started(ev, a.n, t0))
                p.wait()
            with tempfile.TemporaryDirectory() as d:
                ev, pids, conf = Path(d, "events.log"), Path(d, "pids"), Path(d, "config")
                pids.mkdir()
                conf.mkdir()
                runners = [{"name": f"p{i:03d}", "kind": "command",
                            "command": [child, f"p{i:03d}", str(ev), "0", "3", str(pids / f"p{i:03d}.pid")],
                            "restart": {"policy": "always", "delay_ms": 0, "max_delay_ms": 0, "crash_loop": None}}
                           for i in range(a.n)]
                (conf / "runner_manifest.json").write_text(json.dumps({"runners": runners}))
                t0 = time.monotonic_ns()
                p = subprocess.Popen([a.bin, "up", "--config", str(conf), "--data-dir", f"{d}/data"],
                                     env=dict(os.environ, QCITY_LOG="warn"))
                results["qcity"].append(started(ev, a.n, t0))
                p.terminate()
                p.wait(timeout=30)
        for k, v in results.items():
            print(f"{k:6} N={a.n}: " + " ".join(f"{x:.3f}" for x in v) + f"  median {statistics.median(v):.3f} s")


if __name__ == "__main__":
    main()
