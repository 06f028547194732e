#!/usr/bin/env bash
# ctest host:systemd_unit — the service unit as installed, read by systemd's own parser.
# Installs the build into a scratch DESTDIR, checks that the unit and the binaries its
# Exec lines name are where the unit says, then runs `systemd-analyze verify` on it: any
# complaint other than "the binary is not installed on this machine" fails the test.
# (Running it under systemd as PID 1: host:systemd_service.)
# Usage: systemd_unit_test.sh SOURCE_DIR BUILD_DIR; exit 4 (skip) without systemd-analyze.
set -uo pipefail
src=$1
build=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped"; exit 4; }
fail() { echo "host:systemd_unit FAILED: $*"; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null || fail "cmake --install failed"
unit=$root/usr/lib/systemd/system/gpioirqd.service
[[ -f $unit ]] || fail "the unit is not installed at /usr/lib/systemd/system/gpioirqd.service"
cmp -s "$unit" "$src/systemd/gpioirqd.service" || fail "the installed unit differs from systemd/gpioirqd.service"
for exe in $(sed -nE 's/^Exec(Start|StartPre)=-?([^ ]+).*/\2/p' "$unit"); do
  [[ -x $root$exe ]] || fail "$exe (named by the unit) is not installed"
done
out=$(systemd-analyze verify "$unit" 2>&1)
echo "$out"
complaints=$(grep -v -E '^gpioirqd\.service: Command /usr/s?bin/gpioirq(d|ctl) is not executable' <<<"$out" | grep -v '^$')
[[ -z $complaints ]] || fail "systemd-analyze verify: $complaints"
echo "host:systemd_unit passed"
