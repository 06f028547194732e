#!/usr/bin/env bash
# ctest fixtures of the VM tests (tests/vm/CMakeLists.txt runs these as tests):
#   fixture.sh [--arch A] kernel                  build or reuse the cached kernel (build-kernel.sh)
#   fixture.sh [--arch A] initramfs OUT BINARY... build the one initramfs all scenarios boot
# A is x86_64 (default) or arm64. For arm64 the BINARYs are the cross-built ones; busybox,
# gpiomon and gpioinfo come from Debian's arm64 packages (arm64-userland.sh unpacks them).
# A machine that lacks what is needed exits 77 (ctest SKIP) with the reason, except when
# CI=true, where it is a failure: CI must run the VM tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

cannot() {
  case "${CI:-}" in
    1|true|TRUE|yes) echo "FAIL (CI): $*" >&2; exit 1 ;;
  esac
  echo "SKIP: $*" >&2
  exit 77
}

arch=x86_64
if [[ "${1:-}" == "--arch" ]]; then
  arch="${2:-}"
  shift 2 || true
fi
case "$arch" in
  x86_64 | arm64) ;;
  *) echo "fixture.sh: unknown --arch '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
cross_cache="${GPIOIRQ_CROSS_CACHE:-/var/cache/gpioirq-cross}"

case "${1:-}" in
  kernel)
    src="${GPIOIRQ_KERNEL_SOURCE:-/usr/src/linux-source-6.12.tar.xz}"
    [[ -r "$src" ]] || cannot "no kernel source $src (scripts/install-deps.sh installs linux-source-6.12)"
    for t in make gcc flex bison bc xz perl; do
      command -v "$t" >/dev/null || cannot "$t is missing (scripts/install-deps.sh)"
    done
    [[ -e /usr/include/libelf.h ]] || cannot "libelf-dev is missing (scripts/install-deps.sh)"
    if [[ "$arch" == arm64 ]]; then
      command -v aarch64-linux-gnu-gcc >/dev/null ||
        cannot "aarch64-linux-gnu-gcc is missing (scripts/install-deps.sh installs crossbuild-essential-arm64)"
    fi
    "$here/build-kernel.sh" --arch "$arch"
    ;;
  initramfs)
    shift
    out="$1"; shift
    if [[ "$arch" == arm64 ]]; then
      kernel="$("$here/build-kernel.sh" --arch arm64 --print-path)" ||
        cannot "arm64 kernel not built (the vm-arm64:kernel test builds it)"
    else
      kernel="$("$here/build-kernel.sh" --print-path)" || cannot "kernel not built (the vm:kernel test builds it)"
      [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 ||
        cannot "no static /bin/busybox (scripts/install-deps.sh installs busybox-static)"
    fi
    # Missing project binaries are a build problem, not a machine one: fail. armhf:PATH and
    # tsan:PATH are another build's programs for the arm64 image (make-initramfs -x).
    bins=() others=()
    for bin in "$@"; do
      path=$bin
      [[ $bin == armhf:* || $bin == tsan:* ]] && path=${bin#*:}
      [[ -x "$path" ]] || { echo "FAIL: $path is not built (cmake --build first)" >&2; exit 1; }
      if [[ $path != "$bin" ]]; then others+=(-x "$bin"); else bins+=("$bin"); fi
    done
    if [[ "$arch" == arm64 ]]; then
      # The checkout's files test_host reads (scenario cross_host_tests).
      src=$(cd "$here/../.." && pwd) src_in_guest=/usr/local/share/gpioirq-src
      userland="$("$here/arm64-userland.sh")" ||
        cannot "no arm64 busybox-static/gpiod packages (see the arm64-userland.sh error above)"
      "$here/make-initramfs.sh" -o "$out" -a arm64 -b "$userland/bin/busybox" \
        -L "$userland/usr/lib/aarch64-linux-gnu" -L "$cross_cache/arm64/usr/lib/aarch64-linux-gnu" \
        -L "$cross_cache/armhf/usr/lib/arm-linux-gnueabihf" "${others[@]}" \
        -f "$here/../cross/files.toml:/etc/gpioirq-files.toml" \
        -f "$src/config:$src_in_guest/config" -f "$src/docs/METRICS.md:$src_in_guest/docs/METRICS.md" \
        -f "$src/tests/host/golden:$src_in_guest/tests/host/golden" \
        -m "$(dirname "$kernel")/modules" "${bins[@]}" "$userland/usr/bin/gpiomon" "$userland/usr/bin/gpioinfo"
    else
      "$here/make-initramfs.sh" -o "$out" -m "$(dirname "$kernel")/modules" "$@"
    fi
    ;;
  *)
    echo "usage: fixture.sh [--arch x86_64|arm64] kernel | initramfs OUT BINARY..." >&2
    exit 2
    ;;
esac
