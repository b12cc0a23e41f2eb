#!/usr/bin/env python3
"""Cost of health probes: the `qcity up` daemon with N runners x 3 probes (process, tcp, log)
at a 5 s interval, idle. CPU = utime+stime of the daemon over the window (% of one core), PSS
from /proc/PID/smaps_rollup: the method of ../shared/bench/peers.

usage: bench/probes.py [--runners 200] [--seconds 60] [--qcity target/release/qcity]"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runners", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--interval-ms", type=int, default=5000)
    ap.add_argument("--probes", type=int, default=3, choices=[0, 3])
    ap.add_argument("--qcity", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "qcity"))
    a = ap.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="qcity-probes-")
    conf, data = os.path.join(tmp, "config"), os.path.join(tmp, "data")
    os.makedirs(conf)
    probes = [
        {"name": "alive", "process": {}},
        {"name": "port", "tcp": {"address": f"127.0.0.1:{port}"}},
        {"name": "errors", "log": {"pattern": "ERROR|FATAL", "window_ms": 60000}},
    ][: a.probes]
    for p in probes:
        p.update({"interval_ms": a.interval_ms, "start_grace_ms": 0})
    runners = [{"name": f"r{i}", "command": ["sleep", "infinity"], "probes": probes} for i in range(a.runners)]
    json.dump({"runners": runners}, open(os.path.join(conf, "runner_manifest.json"), "w"))
    json.dump({"api": {"port": 0}, "platforms": {"enabled": False}}, open(os.path.join(conf, "qcity-device-config.json"), "w"))
    proc = subprocess.Popen([a.qcity, "up", "--config", conf, "--data-dir", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(a.settle)
        # Accept the probes' connections so the tcp probe passes.
        listener.setblocking(False)
        t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
        pss = []
        while time.monotonic() - t0 < a.seconds:
            try:
                while True:
                    listener.accept()[0].close()
            except BlockingIOError:
                pass
            pss.append(pss_kib(proc.pid))
            time.sleep(0.5)
        t1, c1 = time.monotonic(), cpu_ticks(proc.pid)
        hz = os.sysconf("SC_CLK_TCK")
        cpu = (c1 - c0) / hz / (t1 - t0) * 100
        pss.sort()
        print(json.dumps({"runners": a.runners, "probes_per_runner": len(probes),
                          "interval_ms": a.interval_ms, "window_s": round(t1 - t0, 1),
                          "cpu_percent_of_one_core": round(cpu, 3),
                          "pss_mib_median": round(pss[len(pss) // 2] / 1024, 1)}))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
