#!/usr/bin/env python3
"""Which parts of the qcity binary an idle daemon keeps in memory, page by page.

  sudo bench/resident.py [--bin target/release/qcity] [--n 200] [--settle 20] [--polling]
                         [--top 40] [--pid PID]

Starts `qcity up` with N `sleep` runners (or reads a running daemon with --pid), then reads
/proc/PID/pagemap for the binary's mappings: each resident page is counted once, as file-backed
(clean, shared with the page cache) or anonymous (written to: relocations, .data, .bss), by ELF
section, and the resident .text pages are shared out among the functions on them (`nm`) and
summed by crate (the first path segment of the demangled name). Needs root for pagemap's
physical bits; the present bit is all this reads, which any user's own process gives too on
older kernels."""
import argparse
import bisect
import collections
import json
import os
import re
import struct
import subprocess
import tempfile
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def sections(binary):
    out = []
    for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m and int(m.group(2), 16):
            out.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)))
    return sorted(out, key=lambda s: s[1])


def symbols(binary):
    """(address, size, crate) of every function, sorted by address."""
    return sorted((a, size, c) for a, size, c, _name in syms_named(binary))


def syms_named(binary):
    res = subprocess.run(["nm", "-S", "--defined-only", "-C", binary], capture_output=True, text=True, check=True)
    for line in res.stdout.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in "tTwW":
            yield int(parts[0], 16), int(parts[1], 16), crate_of(parts[3]), parts[3]


def crate_of(name):
    name = name.lstrip("<&*(").replace("impl ", "")
    if name.startswith("_") or "::" not in name:
        return "(C: sqlite, libc glue, ring's asm…)"
    first = name.split("::", 1)[0].split("<")[-1].strip()
    return first or "?"


def mappings(pid, binary):
    real = os.path.realpath(binary)
    out = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        f = line.split()
        if len(f) >= 6 and os.path.realpath(f[5]) == real:
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            out.append((lo, hi, int(f[2], 16), f[1]))
    return out


def resident(pid, maps):
    """{file offset of a page: 'file' | 'anon'} for the binary's resident pages."""
    pages = {}
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for lo, hi, off, _perm in maps:
            n = (hi - lo) // PAGE
            pm.seek(lo // PAGE * 8)
            data = pm.read(n * 8)
            for i in range(n):
                (e,) = struct.unpack_from("<Q", data, i * 8)
                if e >> 63 & 1:
                    pages[off + i * PAGE] = "file" if e >> 61 & 1 else "anon"
    return pages


def report(pid, binary, top, show=None):
    secs = sections(binary)
    maps = mappings(pid, binary)
    pages = resident(pid, maps)
    by_sec = collections.Counter()
    for off, kind in pages.items():
        name = "(headers)"
        for s, _addr, soff, _size in secs:
            if soff <= off:
                name = s
        by_sec[(name, kind)] += 1
    print(f"pid {pid}: {len(pages) * PAGE / 2**20:.1f} MiB of the binary resident "
          f"({sum(v for (s, k), v in by_sec.items() if k == 'file') * PAGE / 2**20:.1f} file-backed, "
          f"{sum(v for (s, k), v in by_sec.items() if k == 'anon') * PAGE / 2**20:.1f} anonymous)")
    for (s, k), v in sorted(by_sec.items(), key=lambda x: -x[1]):
        print(f"  {s:20} {k:5} {v * PAGE / 1024:8.0f} KiB")
    # .text pages: share each page among the functions on it.
    text = [s for s in secs if s[0] == ".text"][0]
    syms = symbols(binary)
    addrs = [s[0] for s in syms]
    delta = text[1] - text[2]  # vaddr - file offset inside .text's segment
    crates = collections.Counter()
    for off, _kind in pages.items():
        if not (text[2] <= off < text[2] + text[3]):
            continue
        va_lo = off + delta
        va_hi = va_lo + PAGE
        i = max(bisect.bisect_right(addrs, va_lo) - 1, 0)
        owners = collections.Counter()
        while i < len(syms) and syms[i][0] < va_hi:
            a, sz, c = syms[i]
            overlap = min(a + max(sz, 1), va_hi) - max(a, va_lo)
            if overlap > 0:
                owners[c] += overlap
            i += 1
        total = sum(owners.values()) or 1
        for c, b in owners.items():
            crates[c] += PAGE * b / total
    if show:
        print(f"\nresident functions of {show}:")
        resident_va = {off + delta for off in pages if text[2] <= off < text[2] + text[3]}
        for a, sz, c, n in syms_named(binary):
            if c == show and (a // PAGE * PAGE) in resident_va:
                print(f"  {sz:7}  {n[:150]}")
    print(f"\nresident .text by crate (KiB, top {top}):")
    for c, b in crates.most_common(top):
        print(f"  {b / 1024:8.0f}  {c}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/qcity")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--settle", type=float, default=20)
    ap.add_argument("--polling", action="store_true", help="leave platform polling on (the default)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--show", help="list the resident functions of this crate")
    a = ap.parse_args()
    if a.pid:
        report(a.pid, a.bin, a.top, a.show)
        return
    with tempfile.TemporaryDirectory() as d:
        conf = Path(d, "config")
        conf.mkdir()
        runners = [{"name": f"r{i}", "command": ["sleep", "100000"]} for i in range(a.n)]
        (conf / "runner_manifest.json").write_text(json.dumps({"runners": runners}))
        if not a.polling:
            (conf / "qcity-device-config.json").write_text(json.dumps({"platforms": {"enabled": False}}))
        env = dict(os.environ, QCITY_LOG="warn")
        p = subprocess.Popen([a.bin, "up", "--config", str(conf), "--data-dir", f"{d}/data"], env=env)
        try:
            time.sleep(a.settle)
            report(p.pid, a.bin, a.top, a.show)
        finally:
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
