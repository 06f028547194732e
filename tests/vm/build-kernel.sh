#!/usr/bin/env bash
# Builds (once) the small kernel the VM tests boot, and prints the path of its image.
#
#   tests/vm/build-kernel.sh [--arch x86_64|arm64]               build if not cached, print the
#                                                                image path (last stdout line)
#   tests/vm/build-kernel.sh [--arch x86_64|arm64] --print-path  print the path it would have;
#                                                                exit 1 if not built yet
#
# Beside the image the cache dir holds `config` (the final .config) and `modules/*.ko` (flat:
# i2c-stub.ko, which cannot be built in).
#
# Kernel = `make tinyconfig` of Debian's linux-source-6.12 + gpio-sim-kernel.config
# + kernel-extra.config, and for arm64 + kernel-arm64.config (cross-built with
# ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-, crossbuild-essential-arm64).
# Cache: ${GPIOIRQ_VM_CACHE:-/var/cache/gpioirq-vm}/kernel-<key>/{bzImage,config} (x86_64) and
# .../kernel-arm64-<key>/{Image,config} (arm64), where <key> hashes the fragments, this script
# and the linux-source version (arm64 also its arch name), so any change rebuilds.
# Only the image, modules and .config are kept; the source tree is deleted afterwards.
# Concurrent runs serialise on a flock; an aborted run leaves at most a *.tmp.* dir that the
# next run removes. Needs: gcc make flex bison bc libelf-dev libssl-dev xz (scripts/install-deps.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src_tar="${GPIOIRQ_KERNEL_SOURCE:-/usr/src/linux-source-6.12.tar.xz}"
cache="${GPIOIRQ_VM_CACHE:-/var/cache/gpioirq-vm}"
jobs="${GPIOIRQ_KERNEL_JOBS:-$(nproc)}"
fragments=("$here/gpio-sim-kernel.config" "$here/kernel-extra.config")

log() { echo "build-kernel: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

print_only=0
arch=x86_64
while (($#)); do
  case "$1" in
    --print-path) print_only=1 ;;
    --arch)
      (($# >= 2)) || die "--arch needs a value (x86_64 or arm64)"
      arch="$2"
      shift
      ;;
    --arch=*) arch="${1#--arch=}" ;;
    *) die "unknown argument '$1' (usage: build-kernel.sh [--arch x86_64|arm64] [--print-path])" ;;
  esac
  shift
done

# Per architecture: make's ARCH/CROSS_COMPILE, the image target, where make puts it, and the
# cache dir prefix. The x86_64 key hashes exactly what it always did, so its cached kernel
# stays valid; arm64 adds its fragment and its name.
case "$arch" in
  x86_64)
    make_args=()
    image_target=bzImage
    image_built=arch/x86/boot/bzImage
    prefix=kernel
    key_extra=""
    ;;
  arm64)
    make_args=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
    image_target=Image
    image_built=arch/arm64/boot/Image
    prefix=kernel-arm64
    fragments+=("$here/kernel-arm64.config")
    key_extra="arch=arm64"
    ;;
  *) die "unknown --arch '$arch' (x86_64 or arm64)" ;;
esac

[[ -r "$src_tar" ]] || die "kernel source $src_tar missing (run scripts/install-deps.sh)"
for f in "${fragments[@]}"; do [[ -r "$f" ]] || die "missing fragment $f"; done

# CI puts a copy of shared/ beside the repo; our copy is what builds, but say if they drifted.
shared_frag="$here/../../../shared/vm/gpio-sim-kernel.config"
if [[ -r "$shared_frag" ]] && ! diff -q <(grep -v '^#' "$shared_frag") <(grep -v '^#' "${fragments[0]}") >/dev/null; then
  log "note: $shared_frag differs from tests/vm/gpio-sim-kernel.config (building with the tests/vm copy)"
fi

src_version="$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || true)"
[[ -n "$src_version" ]] || src_version="$(stat -c '%s %Y' "$src_tar")"
key="$( { cat "${fragments[@]}" "${BASH_SOURCE[0]}"; echo "$src_version"; [[ -z "$key_extra" ]] || echo "$key_extra"; } | sha256sum | cut -c1-16)"
dest="$cache/$prefix-$key"
image="$dest/$image_target"

if [[ -f "$image" ]]; then echo "$image"; exit 0; fi
if (( print_only )); then echo "$image"; exit 1; fi
if [[ "$arch" == arm64 ]]; then
  command -v aarch64-linux-gnu-gcc >/dev/null ||
    die "aarch64-linux-gnu-gcc missing (scripts/install-deps.sh installs crossbuild-essential-arm64)"
fi

mkdir -p "$cache"
exec 9>"$cache/$prefix-$key.lock"
if ! flock -n 9; then
  log "another build of $prefix-$key is running; waiting for it"
  flock 9
fi
if [[ -f "$image" ]]; then echo "$image"; exit 0; fi

# We hold the lock, so any tmp dir of this key is a leftover of an aborted run.
rm -rf "$cache/$prefix-$key.tmp."*
work="$(mktemp -d "$cache/$prefix-$key.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT

start=$SECONDS
log "unpacking $src_tar into $work"
tar -xJf "$src_tar" -C "$work"
srcdir="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | sed -n 1p)"
[[ -d "$srcdir" ]] || die "no linux-source-* directory in $src_tar"

cd "$srcdir"
make -s "${make_args[@]}" tinyconfig >&2
# merge_config.sh only reads ARCH/CROSS_COMPILE from the environment.
env "${make_args[@]}" KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >&2
make -s "${make_args[@]}" olddefconfig >&2

# Every option the fragments set must have that value now (the last fragment wins);
# a silently dropped option (unmet dependency) would give a kernel that boots but lacks it.
bad=0
while IFS='=' read -r opt want; do
  have="$(grep -E "^($opt=|# $opt is not set)" .config || true)"
  case "$want" in
    n) [[ -z "$have" || "$have" == "# $opt is not set" ]] || { log "$opt: wanted n, have '$have'"; bad=1; } ;;
    *) [[ "$have" == "$opt=$want" ]] || { log "$opt: wanted $want, have '${have:-unset}'"; bad=1; } ;;
  esac
done < <(cat "${fragments[@]}" \
          | sed -nE 's/^(CONFIG_[A-Za-z0-9_]+)=(.*)$/\1=\2/p; s/^# (CONFIG_[A-Za-z0-9_]+) is not set$/\1=n/p' \
          | awk -F= '{v[$1]=$2; if (!($1 in o)) {o[$1]=++n; k[n]=$1}} END {for (i=1;i<=n;i++) print k[i]"="v[k[i]]}')
(( bad == 0 )) || die "kernel config is missing wanted options (see above); fix the fragments"

log "building $arch $image_target and modules with -j$jobs"
make -s -j"$jobs" "${make_args[@]}" "$image_target" modules >&2

mkdir -p "$work/out/modules"
cp "$image_built" "$work/out/$image_target"
find . -name '*.ko' -exec cp {} "$work/out/modules/" \;
cp .config "$work/out/config"
echo "$src_version" > "$work/out/source-version"
cd /
mv -T "$work/out" "$dest"
log "built $image in $((SECONDS - start)) s"
echo "$image"
