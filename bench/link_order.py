#!/usr/bin/env python3
"""Regenerate crates/qcity/link-order.txt: the functions a daemon runs, which the release link
places side by side (lld's --symbol-ordering-file, from crates/qcity/build.rs).

  bench/link_order.py [--bin target/release/qcity] [--seconds 40]

Why: the kernel maps a binary's code in 64 KiB windows around each page a process touches
(fault-around), so functions used at start-up and while idle, scattered over 12 MB of code,
kept ~8 MiB of it resident in an idle daemon. Packed together they fill a few MiB.

How: `qcity up` runs under callgrind (valgrind) with the day-to-day work of a daemon: 200
runners, some with process probes, one that crashes and is restarted, platform polling on
(its default), and the CLI asking for status, logs, a restart and a reload; every function
callgrind saw run is listed, by its linker (mangled) name. Rebuild release afterwards. A
stale list costs only locality: names it does not find are skipped."""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/qcity/link-order.txt"


def workload(qcity, data, seconds):
    env = dict(os.environ, QCITY_DATA_DIR=data)
    time.sleep(seconds / 2)
    for args in (["status"], ["logs", "crash"], ["restart", "r5"], ["reload"], ["platforms"], ["status"]):
        subprocess.run([qcity, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    time.sleep(seconds / 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/qcity"))
    ap.add_argument("--seconds", type=float, default=40)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d, "config")
        conf.mkdir()
        runners = [{"name": f"r{i}", "command": ["sleep", "100000"],
                    "probes": [{"name": "alive", "process": {}}] if i % 4 == 0 else []} for i in range(200)]
        runners.append({"name": "crash", "command": ["sh", "-c", "echo starting; sleep 2; exit 3"]})
        (conf / "runner_manifest.json").write_text(json.dumps({"runners": runners}))
        out = Path(d, "callgrind.out")
        daemon = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
             a.bin, "up", "--config", str(conf), "--data-dir", f"{d}/data"],
            env=dict(os.environ, QCITY_LOG="warn"), stderr=subprocess.DEVNULL)
        try:
            workload(a.bin, f"{d}/data", a.seconds)
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon ended early (exit {daemon.returncode})")
        finally:
            daemon.send_signal(2)
            daemon.wait(timeout=120)
        names = executed(out, os.path.realpath(a.bin))
    OUT.write_text("".join(n + "\n" for n in names))
    print(f"{len(names)} functions -> {OUT.relative_to(ROOT)}")


def executed(path, binary):
    """Names of the functions in `binary` that ran, in the order callgrind first lists them."""
    objs, fns = {}, {}
    seen, order = set(), []
    obj = None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(3):
                objs[m.group(2)] = m.group(3).strip()
            if m.group(1) == "ob":
                obj = objs.get(m.group(2))
            continue
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(3):
                fns[m.group(2)] = m.group(3).strip()
            name = fns.get(m.group(2))
            # A caller (fn=) is in the current object; a callee (cfn=) may be anywhere, but
            # a name not in the binary is skipped by the linker anyway.
            if name and (m.group(1) == "cfn" or obj == binary) and name not in seen:
                seen.add(name)
                order.append(name)
    return [n for n in order if not n.startswith("0x") and "'" not in n]


if __name__ == "__main__":
    main()
