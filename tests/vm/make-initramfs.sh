#!/usr/bin/env bash
# Builds the gzip cpio initramfs every VM scenario boots.
#
#   tests/vm/make-initramfs.sh -o OUT.cpio.gz [-m MODULES_DIR] [-s SCENARIO_DIR]
#                              [-f SRC:DEST]... [BINARY...]
#
# Contents: busybox-static with its applet symlinks in /bin; tests/vm/init.sh as
# /init; SCENARIO_DIR/*.sh (default tests/vm/scenarios) in /scenarios; each BINARY in
# /usr/local/bin (dynamic ones with the shared libraries ldd names and the dynamic loader, at
# their host paths); MODULES_DIR/*.ko in /lib/modules (e.g. i2c-stub.ko from build-kernel.sh);
# extra files SRC copied to DEST. The archive is written atomically (temp file + rename).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out=""
modules=""
scenarios="$here/scenarios"
extras=()
while getopts "o:m:s:f:h" opt; do
  case "$opt" in
    o) out="$OPTARG" ;;
    m) modules="$OPTARG" ;;
    s) scenarios="$OPTARG" ;;
    f) extras+=("$OPTARG") ;;
    *) sed -n '2,12p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ -n "$out" ]] || { echo "make-initramfs: -o OUT is required" >&2; exit 2; }

busybox="${GPIOIRQ_BUSYBOX:-}"
if [[ -z "$busybox" ]]; then
  for b in /bin/busybox /usr/bin/busybox; do
    # ldd fails on a static binary ("not a dynamic executable").
    if [[ -x "$b" ]] && ! ldd "$b" >/dev/null 2>&1; then busybox="$b"; break; fi
  done
fi
[[ -n "$busybox" ]] || { echo "make-initramfs: no static busybox (install busybox-static)" >&2; exit 1; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
# mktemp makes it 0700: as the image's / that would keep every user but root out
# (vm:daemon_nonroot runs the daemon as another user). /tmp is sticky and world-writable.
chmod 0755 "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib/modules,proc,sys,dev,tmp,run,root,etc,scenarios}
chmod 1777 "$root/tmp"

# `busybox --install -s DIR` links every applet flat into DIR, pointing at busybox's resolved
# host path (e.g. /usr/bin/busybox), so the binary goes to that same path in the image.
# (One process instead of hundreds of `ln`: forks are slow on a busy build machine.)
bb_real="$(readlink -f "$busybox")"
mkdir -p "$root$(dirname "$bb_real")"
install -m 0755 "$busybox" "$root$bb_real"
[[ -e "$root/bin/busybox" ]] || ln -s "$bb_real" "$root/bin/busybox"
"$busybox" --install -s "$root/bin" 2>/dev/null || true
[[ -e "$root/bin/sh" && -e "$root/bin/reboot" ]] || { echo "make-initramfs: busybox --install failed" >&2; exit 1; }

# Copies a host file to the same path in the image, following symlinks.
copy_host_path() {
  local src="$1"
  [[ -e "$root$src" ]] && return 0
  mkdir -p "$root$(dirname "$src")"
  cp -L "$src" "$root$src"
}

for bin in "$@"; do
  [[ -x "$bin" ]] || { echo "make-initramfs: not an executable: $bin" >&2; exit 1; }
  install -m 0755 "$bin" "$root/usr/local/bin/$(basename "$bin")"
  # Debug info only slows the VM's unpacking of the archive.
  strip --strip-debug "$root/usr/local/bin/$(basename "$bin")" 2>/dev/null || true
  # ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the loader;
  # static binaries print "not a dynamic executable" (ldd then exits 1).
  while read -r lib; do
    copy_host_path "$lib"
  done < <( (ldd "$bin" 2>/dev/null || true) | sed -nE 's#^\s*(\S+ => )?(/\S+) \(0x[0-9a-f]+\)$#\2#p')
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
  cp -L "$src" "$root$dest"
done

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 > "$tmp"
mv -f "$tmp" "$out"
echo "make-initramfs: wrote $out ($(du -k "$out" | cut -f1) KiB)" >&2
