#!/usr/bin/env python3
"""A crash storm of runners that print before they fail, each run other text (a pid, a time):
the daemon's CPU with the healer on and off, and what the healer wrote.

The peer harness's child prints nothing, so its storm never changes a runner's output; here every
run prints `job PID started at NS` and `error: connection to db-PID:5432 refused`, then exits 3.
For each binary (healer on, then the last one again with the healer off): N runners
(`sh -c 'sleep 0.1; echo …; exit 3'`, restart at once, no crash-loop detection), 5 s to settle,
then the daemon's CPU (utime+stime from /proc) and RSS over the window; after the stop, from its
store: the exits, the `heal` events and the sum of the signatures' counts (which should equal
the exits: every failure the healer saw is counted, repeats included).

  bench/storm_output.py target/release/qcity [OLDER_QCITY ...] [--runners 50] [--seconds 20]
"""
import argparse
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time

SCRIPT = ('sleep 0.1; echo "job $$ started at $(date +%s%N)"; '
          'echo "error: connection to db-$$:5432 refused"; exit 3')


def run(binary, runners, seconds, healer, port):
    d = tempfile.mkdtemp(prefix="qcity-storm-output-")
    conf, data = f"{d}/conf", f"{d}/data"
    os.makedirs(conf)
    os.makedirs(data)
    manifest = {"runners": [{"name": f"r{i}", "kind": "command", "command": ["sh", "-c", SCRIPT],
                             "restart": {"policy": "always", "delay_ms": 0, "max_delay_ms": 0,
                                         "crash_loop": None}} for i in range(runners)]}
    with open(f"{conf}/runner_manifest.json", "w") as f:
        json.dump(manifest, f)
    device = {"api": {"host": "127.0.0.1", "port": port}}
    if not healer:
        device["healer"] = {"enabled": False}
    with open(f"{conf}/qcity-device-config.json", "w") as f:
        json.dump(device, f)
    p = subprocess.Popen([binary, "up", "--config", conf, "--data-dir", data],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ticks():
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def rss_mib():
        with open(f"/proc/{p.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

    try:
        time.sleep(5)
        t0, c0 = time.time(), ticks()
        rss = []
        while time.time() < t0 + seconds:
            time.sleep(1)
            rss.append(rss_mib())
        t1, c1 = time.time(), ticks()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
    db = sqlite3.connect(f"{data}/qcity.db")
    exits = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'runner-state' "
                       "AND json_extract(data, '$.state.state') = 'exited'").fetchone()[0]
    heal = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'heal'").fetchone()[0]
    counted = db.execute("SELECT COALESCE(SUM(count), 0) FROM signatures").fetchone()[0]
    cpu = 100 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)
    print(f"{binary} healer {'on' if healer else 'off'}: CPU {cpu:.1f} %, RSS {max(rss):.1f} MiB, "
          f"exits {exits}, heal events {heal}, signatures' counts {counted}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--runners", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--port", type=int, default=17719)
    a = ap.parse_args()
    for b in a.binaries:
        run(b, a.runners, a.seconds, True, a.port)
    run(a.binaries[0], a.runners, a.seconds, False, a.port)


if __name__ == "__main__":
    main()
