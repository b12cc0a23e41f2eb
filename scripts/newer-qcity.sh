#!/usr/bin/env bash
# Builds a second `qcity` that says it is a newer version (QCITY_BUILD_VERSION), for the
# self-update tests (tests/e2e/update_apply.rs): target/update-test/qcity-VERSION. Only the
# `qcity` crate reads the variable, so each build recompiles that crate alone; the normal
# binary is built again afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
version=${1:-99.0.0}
out=target/update-test
QCITY_BUILD_VERSION="$version" $CARGO build --locked -p qcity
mkdir -p "$out"
cp target/debug/qcity "$out/qcity-$version.new"
# Without its debug info (250 MB to 60 MB): the tests sign, download and hash it.
strip --strip-debug "$out/qcity-$version.new"
mv "$out/qcity-$version.new" "$out/qcity-$version"
$CARGO build --locked -p qcity
"$out/qcity-$version" --version
