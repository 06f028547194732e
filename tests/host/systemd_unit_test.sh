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
# The unit's Documentation= man pages: verify runs man(1) for them, here on the installed ones.
out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$unit" 2>&1)
echo "$out"
complaints=$(grep -v -E '^gpioirqd\.service: Command /usr/s?bin/gpioirq(d|ctl) is not executable' <<<"$out" | grep -v '^$')
[[ -z $complaints ]] || fail "systemd-analyze verify: $complaints"
echo "systemd-analyze verify: no complaint but the binaries' absence from this machine"

# The hardening goal (docs/INSTALL.md): exposure at most 2.0 as systemd rates the unit file
# (package:install checks the running service on a clean Debian 12 too).
exposure_line=$(systemd-analyze security --offline=true "$unit" 2>&1 | grep 'Overall exposure level')
exposure=$(sed -nE 's/.*: ([0-9.]+) .*/\1/p' <<<"$exposure_line")
[[ -n $exposure ]] || fail "no exposure from systemd-analyze security --offline=true: $exposure_line"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' ||
  fail "exposure $exposure above 2.0: $(systemd-analyze security --offline=true "$unit" 2>&1 | grep '✗')"
echo "$exposure_line"

# docs/INSTALL.md's drop-in for users without MQTT takes the network away again: as a
# drop-in next to the unit (what `systemctl edit` makes), systemd must rate the service as
# having no network and no Internet sockets, and lower than the unit alone.
dropin_dir=$root/usr/lib/systemd/system/gpioirqd.service.d
mkdir -p "$dropin_dir"
# (The page's blocks sit in a list item: indented.)
awk '/^ *```ini$/ { block = ""; inside = 1; next }
     /^ *```$/ && inside { inside = 0; if (block ~ /PrivateNetwork=yes/) { printf "%s", block; exit } next }
     inside { sub(/^ +/, ""); block = block $0 "\n" }' "$src/docs/INSTALL.md" >"$dropin_dir/no-network.conf"
grep -q '^PrivateNetwork=yes$' "$dropin_dir/no-network.conf" ||
  fail "docs/INSTALL.md has no drop-in with PrivateNetwork=yes"
security=$(systemd-analyze security --offline=true "$unit" 2>&1)
for check in 'PrivateNetwork=' 'RestrictAddressFamilies=~AF_(INET|INET6)'; do
  grep -qF "✓ $check " <<<"$security" ||
    fail "with INSTALL.md's no-network drop-in, systemd still rates $check as open: $(grep -F "$check " <<<"$security")"
done
no_network=$(sed -nE 's/.*Overall exposure level.*: ([0-9.]+) .*/\1/p' <<<"$security")
awk -v a="$no_network" -v b="$exposure" 'BEGIN { exit !(a < b) }' ||
  fail "exposure $no_network with the no-network drop-in, not below the unit's $exposure"
echo "with INSTALL.md's no-network drop-in: exposure $no_network"
rm -r "$dropin_dir"

# The service's user and groups, as systemd-sysusers reads the installed file.
sysusers=$root/usr/lib/sysusers.d/gpioirqd.conf
[[ -f $sysusers ]] || fail "sysusers.d/gpioirqd.conf is not installed"
out=$(systemd-sysusers --dry-run "$sysusers" 2>&1) || fail "systemd-sysusers --dry-run: $out"
for who in "user gpioirqd" "group gpio" "group i2c"; do
  kind=${who% *} name=${who#* }
  getent "$( [[ $kind == user ]] && echo passwd || echo group)" "$name" >/dev/null && continue
  grep -q "Creating $kind '$name'" <<<"$out" || fail "systemd-sysusers would not make $who: $out"
done
for group in $(sed -nE 's/^SupplementaryGroups=(.*)/\1/p' "$unit") $(sed -nE 's/^Group=(.*)/\1/p' "$unit"); do
  grep -qE "^(g|u) $group |^m gpioirqd $group\b" "$sysusers" || fail "the unit's group $group is not made by sysusers.d"
done
[[ -f $root/usr/lib/udev/rules.d/60-gpioirqd.rules ]] || fail "the udev rules are not installed"
echo "host:systemd_unit passed"
