#!/usr/bin/env bash
# ctest package:cross-arm64, package:cross-armhf — the .deb cross-built for a board's CPU,
# checked as a user of that board would find it.
#
#   1. scripts/package.sh --arch ARCH builds gpioirqd_<version>_ARCH.deb (dpkg-buildpackage
#      -a ARCH, profiles cross and nocheck) and lints it (lintian: no errors).
#   2. The .deb says Architecture: ARCH, and every ELF file in it (and in its -dbgsym) is
#      ARCH's: ELF class, machine, ABI flags (armhf: hard-float EABI5) and the dynamic
#      loader a Debian system of ARCH has (/lib/ld-linux-aarch64.so.1, ld-linux-armhf.so.3).
#   3. Depends names, for every shared library the programs need (their DT_NEEDED), the
#      package of ARCH that holds it here (dh_shlibdeps looked at ARCH's libraries, not the
#      build machine's), and systemd.
#   4. The packaged programs run, under qemu-user with ARCH's libraries from Debian
#      multiarch: gpioirqd --version, --check-config of the shipped /etc/gpioirqd.toml and
#      the example (and a clear error for a bad one); then the packaged gpioirqd runs a
#      configuration with a `sim` chip (an encoder, a counter, an IMU) and the packaged
#      gpioirqctl asks it for status, sees edges counted with nothing lost, decodes the
#      IMU's file, and SIGTERM ends the daemon with exit 0.
# Usage: cross_test.sh SOURCE_DIR BUILD_DIR ARCH
# Exit 4 (ctest: skipped, never passed) where this machine cannot cross-build for ARCH
# (no cross compiler, ARCH not a dpkg architecture, no qemu-user); under CI=true that is a
# failure: CI must run it.
set -uo pipefail
src=$1
build=$2
arch=$3
name=package:cross-$arch
stage=$(mktemp -d /var/tmp/gpioirq-cross-package-XXXXXX)
daemon_pid=
cleanup() {
  [[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null
  rm -rf "$stage"
}
trap cleanup EXIT
fail() {
  echo "$name FAILED: $*"
  exit 1
}
skip() {
  case "${CI:-}" in
    1 | true | TRUE | yes) fail "(CI must run it) $*" ;;
  esac
  echo "$name SKIPPED: $*"
  exit 4
}

case $arch in
  arm64) elf_class=ELF64 machine=AArch64 loader=/lib/ld-linux-aarch64.so.1 qemu=qemu-aarch64-static ;;
  armhf) elf_class=ELF32 machine=ARM loader=/lib/ld-linux-armhf.so.3 qemu=qemu-arm-static ;;
  *) fail "no such architecture to test: '$arch' (arm64, armhf)" ;;
esac
triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null)
command -v "$triplet-g++" >/dev/null || skip "no $triplet-g++ (crossbuild-essential-$arch; scripts/install-deps.sh --cross)"
dpkg --print-foreign-architectures | grep -qxF "$arch" || skip "$arch is not a dpkg architecture here (scripts/install-deps.sh --cross)"
command -v "$qemu" >/dev/null || skip "no $qemu (qemu-user-static; scripts/install-deps.sh --cross)"
for tool in dpkg-buildpackage lintian readelf; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh installs it)"
done

# --- 1. the package ---------------------------------------------------------------------
started=$SECONDS
# Its own directory: package:install builds the native one in $build/package.
deb=$(GPIOIRQ_PACKAGE_DIR=$build/package-$arch "$src/scripts/package.sh" --arch "$arch" |
  tee "$stage/package.log" | tail -1)
[[ ${PIPESTATUS[0]} == 0 && -f $deb ]] || { cat "$stage/package.log"; fail "scripts/package.sh --arch $arch failed"; }
grep -E '^(E|W): ' "$stage/package.log" | sed 's/^/   lintian /'
echo "cross-built and linted $(basename "$deb") in $((SECONDS - started)) s"

# --- 2. the architecture, and every ELF file of it ----------------------------------------
deb_arch=$(dpkg-deb --field "$deb" Architecture)
[[ $deb_arch == "$arch" ]] || fail "Architecture: $deb_arch, not $arch"
root=$stage/root
dpkg-deb -x "$deb" "$root" || fail "dpkg-deb -x $deb"
dbgsym=$(dirname "$deb")/$(basename "$deb" .deb | sed 's/^gpioirqd_/gpioirqd-dbgsym_/').ddeb
[[ -f $dbgsym ]] && { dpkg-deb -x "$dbgsym" "$stage/dbgsym" || fail "dpkg-deb -x $dbgsym"; }
elves=()
while IFS= read -r -d '' file; do
  [[ $(head -c 4 "$file" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]] && elves+=("$file")
done < <(find "$root" "$stage/dbgsym" -type f -print0 2>/dev/null)
programs=()
for elf in "${elves[@]}"; do
  header=$(readelf -h "$elf") || fail "readelf -h ${elf#"$stage"}"
  class=$(awk -F: '$1 ~ /^ *Class$/ {gsub(/ /, "", $2); print $2}' <<<"$header")
  elf_machine=$(awk -F: '$1 ~ /^ *Machine$/ {sub(/^ +/, "", $2); print $2}' <<<"$header")
  [[ $class == "$elf_class" && $elf_machine == "$machine" ]] ||
    fail "${elf#"$stage"} is $class $elf_machine, not $elf_class $machine"
  if [[ $arch == armhf ]]; then
    grep -qE 'Flags:.*Version5 EABI.*hard-float ABI' <<<"$header" ||
      fail "${elf#"$stage"} is not hard-float EABI5: $(grep Flags: <<<"$header")"
  fi
  # Programs (not the debug files): the dynamic loader they ask for.
  if [[ $elf == "$root"/* ]]; then
    interp=$(readelf -l "$elf" | sed -nE 's/.*Requesting program interpreter: ([^]]+)].*/\1/p')
    [[ $interp == "$loader" ]] || fail "${elf#"$root"} asks for the loader '$interp', not $loader"
    programs+=("$elf")
  fi
done
((${#programs[@]} >= 2)) || fail "only ${#programs[@]} programs in the package: ${programs[*]#"$root"}"
echo "Architecture: $arch; ${#elves[@]} ELF files, all $elf_class $machine, programs with $loader:" \
  "${programs[*]#"$root"}"

# --- 3. Depends: the packages of ARCH that hold what the programs link ---------------------
depends=$(dpkg-deb --field "$deb" Depends)
depends_names=$(tr ',' '\n' <<<"$depends" | sed -E 's/^ *//; s/[ (].*//; s/:.*//')
grep -qxF systemd <<<"$depends_names" || fail "Depends lacks systemd: $depends"
needed=$(for program in "${programs[@]}"; do
  readelf -d "$program" | sed -nE 's/.*\(NEEDED\).*\[(.+)\]/\1/p'
done | sort -u)
[[ -n $needed ]] || fail "no DT_NEEDED in the programs"
for soname in $needed; do
  owner=
  for dir in /usr/lib/"$triplet" /lib/"$triplet"; do
    [[ -e $dir/$soname ]] || continue
    owner=$(dpkg -S "$dir/$soname" 2>/dev/null | sed -nE "s/^([^:]+):$arch: .*/\1/p" | head -1)
    [[ -n $owner ]] && break
  done
  [[ -n $owner ]] || fail "no installed package of $arch holds $soname (needed by the programs)"
  grep -qxF "$owner" <<<"$depends_names" || fail "$soname is $owner's, which Depends lacks: $depends"
  echo "   $soname: $owner:$arch, in Depends"
done
echo "Depends: $depends"

# --- 4. the packaged programs run ----------------------------------------------------------
# qemu-user runs them with this machine's libraries of ARCH (multiarch), as a board's
# system would give them its own.
gpioirqd() { "$qemu" "$root/usr/sbin/gpioirqd" "$@"; }
gpioirqctl() { "$qemu" "$root/usr/bin/gpioirqctl" "$@"; }
json() {
  python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) else v)' "$1"
}
version=$(dpkg-deb --field "$deb" Version)
version_out=$(gpioirqd --version 2>&1) || fail "gpioirqd --version under $qemu: $version_out"
[[ $version_out == *"${version%%-*}"* ]] || fail "gpioirqd --version says '$version_out', the package is $version"
echo "gpioirqd --version under $qemu: $version_out"
for config in "$root/etc/gpioirqd.toml" "$root/usr/share/doc/gpioirqd/examples/gpioirqd.toml"; do
  out=$(gpioirqd --check-config "$config" 2>&1) || fail "gpioirqd --check-config ${config#"$root"}: $out"
done
printf '[daemon]\nno_such_key = 1\n' >"$stage/bad.toml"
bad_out=$(gpioirqd --check-config "$stage/bad.toml" 2>&1) && fail "--check-config accepted a bad configuration: $bad_out"
grep -q no_such_key <<<"$bad_out" || fail "the error for a bad configuration does not name the key: $bad_out"
echo "--check-config: the shipped and the example configurations check; a bad one is refused: $(head -1 <<<"$bad_out")"

cat >"$stage/gpioirqd.toml" <<'EOF'
[daemon]
log_dir = "logs"
socket_path = "ctl.sock"
rt_priority = 0
mlock = false

[[chip]]
name = "sim0"
backend = "sim"

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 200

[[counter]]
name = "meter"
chip = "sim0"
line = 2
sim_rate_hz = 50

[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 50
EOF
sock=$stage/ctl.sock
(cd "$stage" && exec "$qemu" "$root/usr/sbin/gpioirqd" -c "$stage/gpioirqd.toml") \
  >"$stage/gpioirqd.out" 2>"$stage/gpioirqd.err" &
daemon_pid=$!
for _ in $(seq 150); do
  gpioirqctl -s "$sock" status >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || fail "gpioirqd exited: $(tail -5 "$stage/gpioirqd.err")"
  sleep 0.2
done
status=$(gpioirqctl -s "$sock" --json status 2>&1) || fail "gpioirqctl status: $status; gpioirqd: $(tail -5 "$stage/gpioirqd.err")"
[[ $(json version <<<"$status") == "${version%%-*}" ]] || fail "status says version $(json version <<<"$status")"
[[ $(json pid <<<"$status") == "$daemon_pid" ]] || fail "status says pid $(json pid <<<"$status"), not $daemon_pid"
sleep 2
encoders=$(gpioirqctl -s "$sock" --json encoders) || fail "gpioirqctl encoders"
counters=$(gpioirqctl -s "$sock" --json counters) || fail "gpioirqctl counters"
transitions=$(json encoders.0.transitions <<<"$encoders")
count=$(json counters.0.count <<<"$counters")
((transitions > 0 && count > 0)) || fail "no edges counted: encoder $encoders, counter $counters"
[[ $(json encoders.0.lost <<<"$encoders") == 0 && $(json counters.0.lost <<<"$counters") == 0 ]] ||
  fail "edges lost: encoder $encoders, counter $counters"
[[ -s $stage/logs/imu0.imu ]] || fail "no IMU file: $(ls "$stage/logs" 2>&1)"
decoded=$(gpioirqctl decode "$stage/logs/imu0.imu" 2>&1 | head -3)
[[ $decoded == *ts_ns* ]] || fail "gpioirqctl decode imu0.imu: $decoded"
echo "the packaged gpioirqd ran under $qemu: encoder $transitions transitions, counter $count edges, lost 0;" \
  "gpioirqctl decoded imu0.imu"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
[[ $rc == 0 ]] || fail "gpioirqd exited $rc on SIGTERM: $(tail -5 "$stage/gpioirqd.err")"
echo "SIGTERM: gpioirqd exited 0"
echo "$name: passed"
