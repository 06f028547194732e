#!/usr/bin/env bash
# Builds the gzip cpio initramfs every VM scenario boots.
#
#   tests/vm/make-initramfs.sh -o OUT.cpio.gz [-a x86_64|arm64] [-b BUSYBOX] [-L LIBDIR]...
#                              [-m MODULES_DIR] [-s SCENARIO_DIR] [-f SRC:DEST]...
#                              [-x SET:BINARY]... [BINARY...]
#
# Contents: busybox-static with its applet symlinks in /bin; tests/vm/init.sh as
# /init; SCENARIO_DIR/*.sh (default tests/vm/scenarios) in /scenarios; each BINARY in
# /usr/local/bin (dynamic ones with their shared libraries and the dynamic loader);
# MODULES_DIR/*.ko in /lib/modules (e.g. i2c-stub.ko from build-kernel.sh);
# extra files (or directories) SRC copied to DEST. The archive is written atomically
# (temp file + rename).
#
# -a x86_64 (default, the host's own architecture): busybox is the host's static one (or -b),
#    applets linked here; libraries are what ldd names, at their host paths.
# -a arm64 (foreign binaries, which cannot be run here): -b names Debian's arm64 busybox-static
#    (tests/vm/arm64-userland.sh), whose applets /init links at boot; libraries are found
#    without running anything: each ELF's NEEDED entries (readelf), recursively, looked up in
#    each -L LIBDIR, then /usr/lib/aarch64-linux-gnu and /lib/aarch64-linux-gnu, and put in
#    /lib/aarch64-linux-gnu; the program interpreter goes to the path the binaries name.
#    Every BINARY must be an AArch64 ELF.
# -x SET:BINARY (with -a arm64): a program of another build, put in /usr/local/SET/bin with
#    its libraries and loader, found as for arm64. SET armhf: a 32-bit ARM program (the
#    kernel runs them with CONFIG_COMPAT), libraries in /lib/arm-linux-gnueabihf, found in
#    the -L dirs whose path names arm-linux-gnueabihf, then the system's. SET tsan: an arm64
#    program of the TSan build (libtsan from the cross toolchain's /usr/aarch64-linux-gnu/lib).
#    Each architecture looks only in the -L dirs that name its multiarch triplet, or that
#    name none, then in the system's multiarch dirs, then in the cross toolchain's own.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out=""
modules=""
scenarios="$here/scenarios"
extras=()
arch=x86_64
busybox="${GPIOIRQ_BUSYBOX:-}"
lib_dirs=()
others=()  # -x ARCH:BINARY
while getopts "o:a:b:L:m:s:f:x:h" opt; do
  case "$opt" in
    o) out="$OPTARG" ;;
    a) arch="$OPTARG" ;;
    b) busybox="$OPTARG" ;;
    L) lib_dirs+=("$OPTARG") ;;
    m) modules="$OPTARG" ;;
    s) scenarios="$OPTARG" ;;
    f) extras+=("$OPTARG") ;;
    x) others+=("$OPTARG") ;;
    *) sed -n '2,28p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ -n "$out" ]] || { echo "make-initramfs: -o OUT is required" >&2; exit 2; }
# A foreign architecture's facts and where its libraries are looked for.
use_arch() {  # arm64 | armhf: sets multiarch, elf_machine, strip_tool, search_dirs
  local dir
  case "$1" in
    arm64) multiarch=aarch64-linux-gnu elf_machine=AArch64 ;;
    armhf) multiarch=arm-linux-gnueabihf elf_machine=ARM ;;
  esac
  strip_tool=$multiarch-strip
  search_dirs=()
  for dir in "${lib_dirs[@]}"; do
    case "$dir" in
      *"$multiarch"*) search_dirs+=("$dir") ;;
      *-linux-gnu*) ;;  # another architecture's
      *) search_dirs+=("$dir") ;;
    esac
  done
  search_dirs+=("/usr/lib/$multiarch" "/lib/$multiarch" "/usr/$multiarch/lib")
}
set_arch() {  # SET of -x: its architecture
  case "$1" in
    armhf) echo armhf ;;
    tsan) echo arm64 ;;
  esac
}
case "$arch" in
  x86_64) ;;
  arm64)
    use_arch arm64
    [[ -n "$busybox" ]] || { echo "make-initramfs: -a arm64 needs -b BUSYBOX (an arm64 busybox-static)" >&2; exit 2; }
    ;;
  *) echo "make-initramfs: unknown -a '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
for other in "${others[@]}"; do
  [[ "$arch" == arm64 && -n "$(set_arch "${other%%:*}")" ]] ||
    { echo "make-initramfs: -x $other: only armhf: or tsan: programs, in an arm64 image" >&2; exit 2; }
done

if [[ -z "$busybox" ]]; then
  for b in /bin/busybox /usr/bin/busybox; do
    # ldd fails on a static binary ("not a dynamic executable").
    if [[ -x "$b" ]] && ! ldd "$b" >/dev/null 2>&1; then busybox="$b"; break; fi
  done
fi
[[ -n "$busybox" ]] || { echo "make-initramfs: no static busybox (install busybox-static)" >&2; exit 1; }
[[ -x "$busybox" ]] || { echo "make-initramfs: busybox $busybox is not an executable" >&2; exit 1; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
# mktemp makes it 0700: as the image's / that would keep every user but root out
# (vm:daemon_nonroot runs the daemon as another user). /tmp is sticky and world-writable.
chmod 0755 "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib/modules,proc,sys,dev,tmp,run,root,etc,scenarios}
chmod 1777 "$root/tmp"

# Prints the ELF machine of a file (e.g. "AArch64", "Advanced Micro Devices X86-64"), or
# nothing when it is not an ELF file.
elf_machine_of() {
  LC_ALL=C readelf -h "$1" 2>/dev/null | sed -nE 's/^ *Machine: *(.*)$/\1/p'
}

if [[ "$arch" == x86_64 ]]; then
  # `busybox --install -s DIR` links every applet flat into DIR, pointing at busybox's resolved
  # host path (e.g. /usr/bin/busybox), so the binary goes to that same path in the image.
  # (One process instead of hundreds of `ln`: forks are slow on a busy build machine.)
  bb_real="$(readlink -f "$busybox")"
  mkdir -p "$root$(dirname "$bb_real")"
  install -m 0755 "$busybox" "$root$bb_real"
  [[ -e "$root/bin/busybox" ]] || ln -s "$bb_real" "$root/bin/busybox"
  "$busybox" --install -s "$root/bin" 2>/dev/null || true
  [[ -e "$root/bin/sh" && -e "$root/bin/reboot" ]] || { echo "make-initramfs: busybox --install failed" >&2; exit 1; }
else
  # A foreign busybox cannot run here: only /bin/sh is linked now, /init (init.sh) runs
  # `/bin/busybox --install -s /bin` first thing in the guest.
  [[ "$(elf_machine_of "$busybox")" == "$elf_machine" ]] ||
    { echo "make-initramfs: $busybox is not an $elf_machine ELF binary" >&2; exit 1; }
  ! LC_ALL=C readelf -l "$busybox" | grep 'program interpreter' >/dev/null ||
    { echo "make-initramfs: $busybox is not static (want busybox-static)" >&2; exit 1; }
  install -m 0755 "$busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
fi

# Copies a host file to the same path in the image, following symlinks.
copy_host_path() {
  local src="$1"
  [[ -e "$root$src" ]] && return 0
  mkdir -p "$root$(dirname "$src")"
  cp -L "$src" "$root$src"
}

# Foreign ELF files: copies the shared libraries FILE needs (NEEDED entries, recursively) into
# /lib/MULTIARCH of the image, and its program interpreter to the path FILE names. The
# architecture is the one set by use_arch.
declare -A foreign_done=()
copy_foreign_needs() {
  local file="$1" interp lib dir found
  interp="$(LC_ALL=C readelf -l "$file" | sed -nE 's/.*\[Requesting program interpreter: (\/[^]]+)\]/\1/p')"
  if [[ -n "$interp" && ! -e "$root$interp" ]]; then
    found=""
    for dir in "${search_dirs[@]}"; do
      [[ -e "$dir/$(basename "$interp")" ]] && { found="$dir/$(basename "$interp")"; break; }
    done
    [[ -n "$found" ]] || { echo "make-initramfs: $file: no program interpreter $interp in ${search_dirs[*]}" >&2; exit 1; }
    mkdir -p "$root$(dirname "$interp")"
    cp -L "$found" "$root$interp"
  fi
  while read -r lib; do
    [[ -n "${foreign_done[$multiarch/$lib]:-}" ]] && continue
    foreign_done[$multiarch/$lib]=1
    found=""
    for dir in "${search_dirs[@]}"; do
      [[ -e "$dir/$lib" ]] && { found="$dir/$lib"; break; }
    done
    [[ -n "$found" ]] || { echo "make-initramfs: $file needs $lib, which is in none of ${search_dirs[*]}" >&2; exit 1; }
    [[ "$(elf_machine_of "$found")" == "$elf_machine" ]] ||
      { echo "make-initramfs: $found is not an $elf_machine library" >&2; exit 1; }
    mkdir -p "$root/lib/$multiarch"
    [[ -e "$root/lib/$multiarch/$lib" ]] || cp -L "$found" "$root/lib/$multiarch/$lib"
    copy_foreign_needs "$found"
  done < <(LC_ALL=C readelf -d "$file" | sed -nE 's/.*\(NEEDED\).*\[(.+)\]$/\1/p')
}

for bin in "$@"; do
  [[ -x "$bin" ]] || { echo "make-initramfs: not an executable: $bin" >&2; exit 1; }
  dest_bin="$root/usr/local/bin/$(basename "$bin")"
  if [[ "$arch" == x86_64 ]]; then
    install -m 0755 "$bin" "$dest_bin"
    # Debug info only slows the VM's unpacking of the archive.
    strip --strip-debug "$dest_bin" 2>/dev/null || true
    # ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the loader;
    # static binaries print "not a dynamic executable" (ldd then exits 1).
    while read -r lib; do
      copy_host_path "$lib"
    done < <( (ldd "$bin" 2>/dev/null || true) | sed -nE 's#^\s*(\S+ => )?(/\S+) \(0x[0-9a-f]+\)$#\2#p')
  else
    [[ "$(elf_machine_of "$bin")" == "$elf_machine" ]] ||
      { echo "make-initramfs: $bin is not an $elf_machine ELF binary (-a $arch)" >&2; exit 1; }
    install -m 0755 "$bin" "$dest_bin"
    "$strip_tool" --strip-debug "$dest_bin" 2>/dev/null || true
    copy_foreign_needs "$bin"
  fi
done

for other in "${others[@]}"; do
  other_set=${other%%:*} bin=${other#*:}
  use_arch "$(set_arch "$other_set")"
  [[ -x "$bin" ]] || { echo "make-initramfs: not an executable: $bin" >&2; exit 1; }
  [[ "$(elf_machine_of "$bin")" == "$elf_machine" ]] ||
    { echo "make-initramfs: $bin is not an $elf_machine ELF binary (-x $other_set)" >&2; exit 1; }
  mkdir -p "$root/usr/local/$other_set/bin"
  dest_bin="$root/usr/local/$other_set/bin/$(basename "$bin")"
  install -m 0755 "$bin" "$dest_bin"
  "$strip_tool" --strip-debug "$dest_bin" 2>/dev/null || true
  copy_foreign_needs "$bin"
done

if [[ -n "$modules" ]]; then
  for ko in "$modules"/*.ko; do
    [[ -e "$ko" ]] && cp "$ko" "$root/lib/modules/"
  done
fi

install -m 0755 "$here/init.sh" "$root/init"
for s in "$scenarios"/*.sh; do
  [[ -e "$s" ]] && install -m 0755 "$s" "$root/scenarios/"
done
for e in "${extras[@]}"; do
  src="${e%%:*}"
  dest="${e#*:}"
  mkdir -p "$root$(dirname "$dest")"
  cp -rL "$src" "$root$dest"
done

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 > "$tmp"
mv -f "$tmp" "$out"
echo "make-initramfs: wrote $out ($(du -k "$out" | cut -f1) KiB)" >&2
