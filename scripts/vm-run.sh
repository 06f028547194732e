#!/usr/bin/env bash
# Runs one VM scenario by hand from a configured build tree (docs/VM-TESTS.md):
#   scripts/vm-run.sh [-B BUILD_DIR] SCENARIO [run-scenario.py options, e.g. --env EDGES=5000]
# Builds the helper binaries, makes sure the kernel and the initramfs are there (the same
# ctest fixtures the vm tests use), then boots the VM; the console log goes to
# BUILD_DIR/tests/vm/logs/SCENARIO.log. Exit code: 0 PASS, 1 FAIL, 77 SKIP.
# A cross build for aarch64 (cmake/toolchains/aarch64-linux-gnu.cmake) boots the arm64 guest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build"
if [[ "${1:-}" == "-B" ]]; then build="$(cd "$2" && pwd)"; shift 2; fi
[[ $# -ge 1 ]] || { sed -n '2,7p' "${BASH_SOURCE[0]}" >&2; exit 2; }
scenario="$1"; shift
[[ -f "$repo/tests/vm/scenarios/$scenario.sh" ]] || { echo "no scenario tests/vm/scenarios/$scenario.sh" >&2; exit 2; }
[[ -f "$build/CMakeCache.txt" ]] || { echo "$build is not a configured build tree (cmake -S . -B build)" >&2; exit 2; }

# The guest follows the build tree's target: tests/vm/CMakeLists.txt names the tests
# vm:* for x86_64 and vm-arm64:* for an aarch64 build.
arch=x86_64
prefix=vm
if ctest --test-dir "$build" -N -R '^vm-arm64:kernel$' 2>/dev/null | grep 'vm-arm64:kernel' >/dev/null; then
  arch=arm64
  prefix=vm-arm64
fi

# Only what goes into the initramfs: the VM helpers and the daemon binaries once they exist.
targets=(vm_edge_train vm_pwm_train vm_i2c_regs vm_run_as vm_gpiod_probe vm_json_get)
known="$(cmake --build "$build" --target help 2>/dev/null || true)"
for t in gpioirqd gpioirqctl; do
  grep -qw -- "$t" <<<"$known" && targets+=("$t")
done
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >/dev/null
ctest --test-dir "$build" -R "^$prefix:(kernel|initramfs)\$" --output-on-failure >/dev/null ||
  { echo "kernel/initramfs fixture failed: ctest --test-dir $build -R '^$prefix:(kernel|initramfs)\$' -V" >&2; exit 1; }
exec python3 "$repo/tests/vm/run-scenario.py" --arch "$arch" --scenario "$scenario" \
  --initrd "$build/tests/vm/initramfs.cpio.gz" --log-dir "$build/tests/vm/logs" "$@"
