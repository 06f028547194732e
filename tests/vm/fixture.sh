#!/usr/bin/env bash
# ctest fixtures of the VM tests (tests/vm/CMakeLists.txt runs these as tests):
#   fixture.sh kernel                  build or reuse the cached kernel (build-kernel.sh)
#   fixture.sh initramfs OUT BINARY... build the one initramfs all scenarios boot
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

case "${1:-}" in
  kernel)
    src="${GPIOIRQ_KERNEL_SOURCE:-/usr/src/linux-source-6.12.tar.xz}"
    [[ -r "$src" ]] || cannot "no kernel source $src (scripts/install-deps.sh installs linux-source-6.12)"
    for t in make gcc flex bison bc xz perl; do
      command -v "$t" >/dev/null || cannot "$t is missing (scripts/install-deps.sh)"
    done
    [[ -e /usr/include/libelf.h ]] || cannot "libelf-dev is missing (scripts/install-deps.sh)"
    "$here/build-kernel.sh"
    ;;
  initramfs)
    shift
    out="$1"; shift
    kernel="$("$here/build-kernel.sh" --print-path)" || cannot "kernel not built (the vm:kernel test builds it)"
    [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 ||
      cannot "no static /bin/busybox (scripts/install-deps.sh installs busybox-static)"
    # Missing project binaries are a build problem, not a machine one: fail.
    for bin in "$@"; do
      [[ -x "$bin" ]] || { echo "FAIL: $bin is not built (cmake --build first)" >&2; exit 1; }
    done
    "$here/make-initramfs.sh" -o "$out" -m "$(dirname "$kernel")/modules" "$@"
    ;;
  *)
    echo "usage: fixture.sh kernel | initramfs OUT BINARY..." >&2
    exit 2
    ;;
esac
