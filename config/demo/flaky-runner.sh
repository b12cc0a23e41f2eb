#!/bin/sh
# Demo runner of QCity's sample config: pretends to run a build job and fails about one run in
# three (exit 1), so restarts and backoff show up at once in `qcity status`. POSIX sh and coreutils only.
set -eu

roll=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
job=$(date +%s)

echo "flaky-build: picked up job $job"
for step in checkout compile test package; do
    echo "flaky-build: [$job] $step ..."
    sleep 1
done

if [ $((roll % 3)) -eq 0 ]; then
    echo "flaky-build: [$job] tests failed (exit 1)" >&2
    exit 1
fi
echo "flaky-build: [$job] build ok"
