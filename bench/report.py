#!/usr/bin/env python3
"""Turns bench/results/*.csv into bench/results/results-peers.md with the shared harness's own
report code, pointed at this project's results (the shared report writes next to itself)."""
import importlib.util
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
peers = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent.parent / "shared/bench/peers"
results = here / "results"
spec = importlib.util.spec_from_file_location("peer_report", peers / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)
report.RAW = results / "results-peers-raw.csv"
report.LAT = results / "results-peers-latency.csv"
report.OUT = results / "results-peers.md"
report.HERE = results  # observations.md, if any, is read from here
report.main()
