#!/usr/bin/env bash
# Unpacks the arm64 programs the arm64 VM's initramfs needs besides our own binaries, and
# prints the directory they are in (last stdout line):
#   DIR/bin/busybox                   Debian's busybox-static:arm64 (the guest's shell and tools)
#   DIR/usr/bin/{gpiomon,gpioinfo}    Debian's gpiod:arm64 2.1.3 from bookworm-backports (the
#                                     peer baseline; its libgpiod3:arm64 comes from the cross
#                                     libraries, libgpiod-dev:arm64)
#
#   tests/vm/arm64-userland.sh [--print-path]
#
# They cannot be installed beside the host's own (busybox-static and gpiod are not
# Multi-Arch: same), so `apt-get download` fetches the .debs and `dpkg-deb -x` unpacks them
# into ${GPIOIRQ_CROSS_CACHE:-/var/cache/gpioirq-cross}/arm64-vm; nothing is installed. Once
# complete the dir is reused (DIR/.packages names what is in it; delete DIR to fetch anew).
# --print-path prints the dir and exits 1 when it is not complete yet (nothing is fetched).
# Needs: arm64 as a dpkg foreign architecture with bookworm-backports in the sources
# (scripts/install-deps.sh).
set -euo pipefail

cache="${GPIOIRQ_CROSS_CACHE:-/var/cache/gpioirq-cross}"
dest="$cache/arm64-vm"
packages=("busybox-static:arm64" "gpiod:arm64/bookworm-backports")
want_files=(bin/busybox usr/bin/gpiomon usr/bin/gpioinfo)

log() { echo "arm64-userland: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

complete() {
  local f
  for f in "${want_files[@]}"; do [[ -x "$dest/$f" ]] || return 1; done
  [[ -f "$dest/.packages" ]]
}

case "${1:-}" in
  --print-path)
    echo "$dest"
    complete
    exit
    ;;
  "") ;;
  *) die "unknown argument '$1' (usage: arm64-userland.sh [--print-path])" ;;
esac

if complete; then echo "$dest"; exit 0; fi

dpkg --print-foreign-architectures | grep -x arm64 >/dev/null ||
  die "arm64 is not a dpkg foreign architecture (scripts/install-deps.sh: dpkg --add-architecture arm64)"

mkdir -p "$cache"
exec 9>"$dest.lock"
flock 9
if complete; then echo "$dest"; exit 0; fi

work="$(mktemp -d "$cache/arm64-vm.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/debs" "$work/root"
log "fetching ${packages[*]}"
(cd "$work/debs" && apt-get download "${packages[@]}" >&2) ||
  die "apt-get download ${packages[*]} failed (is bookworm-backports in the apt sources, and apt-get update done?)"
for deb in "$work"/debs/*.deb; do
  [[ "$(dpkg-deb -f "$deb" Architecture)" == arm64 ]] || die "$deb is not an arm64 package"
  dpkg-deb -x "$deb" "$work/root"
  dpkg-deb -f "$deb" Package Version | paste -sd' ' >> "$work/root/.packages"
done
for f in "${want_files[@]}"; do
  [[ -x "$work/root/$f" ]] || die "the packages have no $f"
done
rm -rf "$dest"
mv -T "$work/root" "$dest"
log "unpacked into $dest: $(paste -sd';' "$dest/.packages")"
echo "$dest"
