#!/usr/bin/env python3
"""Offload overhead (issue 17): a job that makes a 100 MB artifact on an SSH host on loopback
(a private sshd, as the tests run it), run by `qcity job run --where ssh:box` through a real
`qcity up`, against doing the same by hand in the same run: `ssh host 'cd DIR && CMD'` then
`scp host:DIR/out/big.bin .`, with the same key, known_hosts and batch options.

QCity's run includes what the manual way skips: the placement, the job's record and log, the
remote SHA-256 of the artifact, bringing it back as a tar stream into staging, checking its
SHA-256 here, moving it into place, uploading it to the local object store and the
builds.json entry. Repeats alternate the two ways. Prints medians and the ratio.

  bench/offload.py [--bin target/release/qcity] [--mb 100] [--repeats 5]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, secs=20):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def sshd(tmp):
    """A private sshd on loopback logging in this user by a fresh key."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp}/host"], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp}/client"], check=True)
    shutil.copy(f"{tmp}/client.pub", f"{tmp}/authorized_keys")
    port = free_port()
    with open(f"{tmp}/sshd_config", "w") as f:
        f.write(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp}/host\n"
            f"AuthorizedKeysFile {tmp}/authorized_keys\nPidFile {tmp}/sshd.pid\n"
            "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            # scp speaks SFTP by default, as a real host offers it.
            "Subsystem sftp /usr/lib/openssh/sftp-server\n"
        )
    with open(f"{tmp}/host.pub") as f:
        key = f.read().split()[:2]
    with open(f"{tmp}/known_hosts", "w") as f:
        f.write(f"[127.0.0.1]:{port} {' '.join(key)}\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", f"{tmp}/sshd_config"],
                            stderr=open(f"{tmp}/sshd.log", "w"))
    wait_port(port)
    return proc, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/qcity"))
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="qcity-offload-bench-")
    proc, port = sshd(tmp)
    conf, data, remote, work = (f"{tmp}/{d}" for d in ("conf", "data", "remote", "conf/work"))
    for d in (conf, work, remote):
        os.makedirs(d, exist_ok=True)
    cmd = f"mkdir -p out && head -c {a.mb * 1024 * 1024} /dev/urandom > out/big.bin"
    with open(f"{conf}/runner_manifest.json", "w") as f:
        json.dump({"runners": [], "jobs": [{"name": "big", "working_dir": "work",
                                           "command": ["sh", "-c", cmd],
                                           "artifacts": ["out/*.bin"]}]}, f)
    with open(f"{conf}/qcity-device-config.json", "w") as f:
        json.dump({"api": {"port": 0}, "platforms": {"enabled": False}}, f)
    with open(f"{conf}/qmoi_cloud_config.json", "w") as f:
        json.dump({"targets": [{"name": "box", "ssh": {
            "host": "127.0.0.1", "port": port, "identity_file": f"{tmp}/client",
            "known_hosts": f"{tmp}/known_hosts", "remote_dir": remote}}],
            # The local store would keep every run's 100 MB: the bench removes it each time.
            "store": {"cache_max_mb": 1}}, f)
    up = subprocess.Popen([a.bin, "--data-dir", data, "up", "--config", conf], env=dict(os.environ, QCITY_LOG=os.environ.get("QCITY_LOG", "info")),
                          stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/up.log", "w"))
    for _ in range(200):
        if os.path.exists(f"{data}/daemon.json"):
            break
        time.sleep(0.05)
    ssh_opts = ["-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={tmp}/known_hosts",
                "-o", "StrictHostKeyChecking=yes", "-i", f"{tmp}/client"]
    ours, manual, phases = [], [], []
    try:
        for r in range(a.repeats):
            t = time.monotonic()
            out = subprocess.run([a.bin, "--data-dir", data, "job", "run", "big", "--where", "ssh:box"],
                                 capture_output=True, text=True)
            ours.append(time.monotonic() - t)
            if out.returncode != 0:
                raise SystemExit(f"qcity job run failed: {out.stdout}\n{out.stderr}")
            # Where the time went, from the run's record: placed -> attempt -> ended.
            shown = subprocess.run([a.bin, "--data-dir", data, "job", "list", "-n", "1", "--json"],
                                   capture_output=True, text=True, check=True)
            rec = json.loads(shown.stdout)[0]
            att = rec["attempts"][0]
            phases.append((att["started_ms"] - rec["started_ms"],
                           att["finished_ms"] - att["started_ms"],
                           rec["finished_ms"] - att["finished_ms"]))
            shutil.rmtree(f"{data}/store", ignore_errors=True)
            os.remove(f"{work}/out/big.bin")
            d = f"{remote}/manual{r}"
            dest = f"{tmp}/manual.bin"
            t = time.monotonic()
            subprocess.run(["ssh", *ssh_opts, "-p", str(port), "127.0.0.1",
                            f"mkdir -p {d} && cd {d} && {cmd}"], check=True)
            subprocess.run(["scp", "-q", *ssh_opts, "-P", str(port), f"127.0.0.1:{d}/out/big.bin", dest],
                           check=True)
            manual.append(time.monotonic() - t)
            os.remove(dest)
            shutil.rmtree(d)
    finally:
        up.terminate()
        up.wait()
        proc.terminate()
        proc.wait()
    mo, mm = statistics.median(ours), statistics.median(manual)
    print(f"offload of a job making {a.mb} MB on a loopback SSH host, {a.repeats} repeats, medians:")
    print(f"  qcity job run --where ssh:box : {mo:.2f} s   {[round(x, 2) for x in ours]}")
    print(f"  ssh CMD + scp of the artifact : {mm:.2f} s   {[round(x, 2) for x in manual]}")
    print(f"  ratio: {mo / mm:.2f}x")
    med = [statistics.median(p[i] for p in phases) for i in range(3)]
    print(f"  qcity's run, medians (ms): placed->attempt {med[0]:.0f}, the attempt (connect, run, "
          f"hash and bring back, clean up) {med[1]:.0f}, after it (check, place, upload, report) {med[2]:.0f}")
    if os.environ.get("KEEP"):
        print(f"  kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
