#!/usr/bin/env bash
# ctest package:cross-arm64, package:cross-armhf — the .deb cross-built for a board's CPU,
# checked as a user of that board would find it.
#
#   1. scripts/package.sh --arch ARCH builds gpioirqd_<version>_ARCH.deb (dpkg-buildpackage
#      -a ARCH, profiles cross and nocheck) and lints it (lintian: no errors).
#   2. The .deb says Architecture: ARCH, and every ELF file in it (and in its -dbgsym) is
#      ARCH's: ELF class, machine, ABI flags (armhf: hard-float EABI5, ARMv7, VFP arguments)
#      and the dynamic loader a Debian system of ARCH has (/lib/ld-linux-aarch64.so.1,
#      ld-linux-armhf.so.3).
#   3. Depends names, for every shared library the programs need (their DT_NEEDED), the
#      package of ARCH that holds it here (dh_shlibdeps looked at ARCH's libraries, not the
#      build machine's), and systemd.
#   4. The packaged programs run, under qemu-user with ARCH's libraries from Debian
#      multiarch: gpioirqd --version, --check-config of the shipped /etc/gpioirqd.toml and
#      the example (and a clear error for a bad one), and gpioirqctl decode of an IMU frame
#      file made byte by byte as docs/FILE-FORMATS.md has it (64-bit times; on armhf wider
#      than long) gives exactly the documented CSV. (Not the daemon's run: qemu-user 7.2
#      has no io_uring.)
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
trap 'rm -rf "$stage"' EXIT
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
dpkg --print-foreign-architectures | grep -xF "$arch" >/dev/null || skip "$arch is not a dpkg architecture here (scripts/install-deps.sh --cross)"
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
# The debug symbols' package too (dh names it -dbgsym, .deb here, .ddeb on Ubuntu).
for dbgsym in "$(dirname "$deb")/gpioirqd-dbgsym_${deb##*/gpioirqd_}" \
  "$(dirname "$deb")/gpioirqd-dbgsym_$(basename "$deb" .deb).ddeb"; do
  [[ -f $dbgsym ]] && { dpkg-deb -x "$dbgsym" "$stage/dbgsym" || fail "dpkg-deb -x $dbgsym"; }
done
elves=()
while IFS= read -r -d '' file; do
  [[ $(head -c 4 "$file" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]] && elves+=("$file")
done < <(find "$root" "$stage/dbgsym" -type f -print0 2>/dev/null)
programs=()
for elf in "${elves[@]}"; do
  # (readelf complains on stderr of the debug files' empty PT_INTERP; -h is still right.)
  header=$(readelf -h "$elf" 2>/dev/null) || fail "readelf -h ${elf#"$stage"} failed"
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
    # armhf is Debian's ARMv7 with VFP arguments (docs/INSTALL.md: not for ARMv6 boards).
    if [[ $arch == armhf ]]; then
      attributes=$(readelf -A "$elf")
      { grep -qE 'Tag_CPU_arch: v7$' <<<"$attributes" && grep -qF 'Tag_ABI_VFP_args: VFP registers' <<<"$attributes"; } ||
        fail "${elf#"$root"} is not ARMv7 with VFP arguments: $(grep -E 'Tag_CPU_arch:|VFP_args' <<<"$attributes")"
    fi
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
  # The package itself, or a name it provides (libspdlog1.10's shlibs ask for
  # libspdlog1.10-fmt9, which it provides).
  provides=$(dpkg-query -W -f='${Provides}' "$owner:$arch" | tr ',' '\n' | sed -E 's/^ *//; s/[ (].*//')
  # (An empty line among grep's patterns would match every name: left out.)
  listed=$(grep -xF -f <(printf '%s\n%s\n' "$owner" "$provides" | grep -v '^$') <<<"$depends_names" | head -1)
  [[ -n $listed ]] || fail "$soname is $owner's, which Depends lacks (nor what it provides: $provides): $depends"
  echo "   $soname: $owner:$arch, in Depends as $listed"
done
echo "Depends: $depends"

# --- 4. the packaged programs run ----------------------------------------------------------
# qemu-user runs them with this machine's libraries of ARCH (multiarch), as a board's
# system would give them its own.
gpioirqd() { "$qemu" "$root/usr/sbin/gpioirqd" "$@"; }
gpioirqctl() { "$qemu" "$root/usr/bin/gpioirqctl" "$@"; }
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

# A file the daemon writes, decoded by the packaged gpioirqctl: an IMU frame file as
# docs/FILE-FORMATS.md lays it out (little-endian, 64-bit nanoseconds, which on armhf are
# wider than its long), made here byte by byte, with times past 2^32 ns and 2^63 / 8 ns,
# negative raw values and a counter jump; the CSV must be what the page says, exactly.
python3 - "$stage/imu0.imu" "$stage/expected.csv" <<'PYTHON' || fail "could not write the IMU file"
import struct, sys
def fletcher16(data):
    a = b = 0
    for x in data:
        a = (a + x) % 255
        b = (b + a) % 255
    return (b << 8) | a
start_monotonic, start_realtime = 5_000_000_000_123, 1_796_000_000_123_456_789
header = struct.pack("<8sHHHHIIqqHHBBH16s64s", b"GIRQIMU\n", 1, 128, 2, 32, 1000, 1000000,
                     start_monotonic, start_realtime, 2, 250, 0, 1, 0x68, b"mpu6050", b"imu0")
assert len(header) == 128
frames, rows = b"", []
for counter in (0, 1, 4, 5):
    ts = start_monotonic + 1_000_000 * (counter + 1) + 7
    values = (100 * counter - 300, -counter, 16384, -1000, counter, -32768, 32767)
    body = struct.pack("<HHIQ7h", 0x5147, 1, counter, ts, *values)
    frames += body + struct.pack("<H", fletcher16(body))
    rows.append(",".join(map(str, (counter, ts) + values)))
open(sys.argv[1], "wb").write(header + frames)
rows.insert(2, "# discontinuity: counter 1 -> 4, 2 frames missing")
open(sys.argv[2], "w").write("\n".join([
    "# gpioirq IMU frame file v1: device=imu0 driver=mpu6050 layout=extended frame_size=32",
    "# rate_hz=1000 actual_rate_mhz=1000000 trigger=data_ready accel_range_g=2 gyro_range_dps=250 dlpf=1 i2c_address=0x68",
    f"# start_monotonic_ns={start_monotonic} start_realtime_ns={start_realtime}",
    "counter,ts_ns,ax,ay,az,temp,gx,gy,gz"] + rows) + "\n")
PYTHON
# Exit 6: decoded, with frames missing (docs/PROTOCOL.md), and stderr says how many.
gpioirqctl decode "$stage/imu0.imu" >"$stage/decoded.csv" 2>"$stage/decode.err"
decode_rc=$?
[[ $decode_rc == 6 ]] || fail "gpioirqctl decode under $qemu exited $decode_rc, not 6 (frames missing): $(cat "$stage/decode.err")"
grep -qF '4 frames, 1 counter jumps (2 frames missing)' "$stage/decode.err" ||
  fail "gpioirqctl decode's summary: $(cat "$stage/decode.err")"
diff -u "$stage/expected.csv" "$stage/decoded.csv" >"$stage/decode.diff" ||
  fail "gpioirqctl decode under $qemu did not give docs/FILE-FORMATS.md's CSV: $(cat "$stage/decode.diff")"
echo "gpioirqctl decode under $qemu: an IMU file with 64-bit times and a counter jump, exactly as documented ($(cat "$stage/decode.err"))"
# The daemon itself does not run under qemu-user here: Debian 12's qemu-user (7.2) has no
# io_uring (io_uring_setup: ENOSYS). It runs on a real arm64 kernel in the VM tests.
echo "$name: passed"
