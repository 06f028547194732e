#!/usr/bin/env bash
# Builds the Debian package: build/package/gpioirqd_<version>_<arch>.deb, then lints it.
#   scripts/package.sh            build (dpkg-buildpackage -b -us -uc) and run lintian
#   GPIOIRQ_PACKAGE_DIR=DIR       put the build and the .deb there (default build/package)
#   GPIOIRQ_NO_LINTIAN=1          skip lintian (it takes half a minute)
# The build dependencies are debian/control's Build-Depends: `scripts/install-deps.sh
# --package` installs them. dpkg-buildpackage writes next to the source tree, so the
# tree is copied (the files git knows, or all but build directories without git) into
# DIR/src/gpioirqd-<version> and built there: the checkout stays clean.
# Exit status: 0 when the .deb was built and lintian found no error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${GPIOIRQ_PACKAGE_DIR:-$root/build/package}
cd "$root"

for tool in dpkg-buildpackage dpkg-parsechangelog dh; do
  command -v "$tool" >/dev/null ||
    { echo "package.sh: $tool not found: run scripts/install-deps.sh --package (as root)" >&2; exit 1; }
done
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
project_version=$(sed -nE 's/^project\(gpioirq VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
if [[ ${version%%-*} != "$project_version" ]]; then
  echo "package.sh: debian/changelog says $version, CMakeLists.txt says $project_version: make them agree" >&2
  exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
src=$out/src/gpioirqd-$version

echo "== copying the source tree to $src"
rm -rf "$out/src"
mkdir -p "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files and new ones not ignored: what a commit of this tree would hold.
  # (A tracked file deleted in the checkout is left out, as a commit would.)
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
    tar -C "$root" --null --no-recursion -T - -cf - | tar -xf - -C "$src"
else
  tar -C "$root" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi

echo "== dpkg-buildpackage -b -us -uc (gpioirqd $version, $arch)"
rm -f "$out"/gpioirqd*_"$version"_*.deb "$out"/gpioirqd_"$version"_*.{buildinfo,changes}
(
  cd "$src"
  export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
  dpkg-buildpackage -b -us -uc
) >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2
  echo "package.sh: dpkg-buildpackage failed; the whole log: $out/build.log" >&2
  exit 1
}
# dpkg-buildpackage leaves its results beside the source directory.
mv "$out/src"/gpioirqd*_"$version"_*.deb "$out/src"/gpioirqd_"$version"_*.buildinfo \
  "$out/src"/gpioirqd_"$version"_*.changes "$out/"
shopt -s nullglob
mv "$out/src"/gpioirqd-dbgsym_"$version"_*.ddeb "$out/" 2>/dev/null || true
deb=$out/gpioirqd_${version}_${arch}.deb
[[ -f $deb ]] || { echo "package.sh: $deb was not made" >&2; exit 1; }
echo "== built $deb ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb --field "$deb" Depends | sed 's/^/   Depends: /'

if [[ ${GPIOIRQ_NO_LINTIAN:-0} != 1 ]]; then
  command -v lintian >/dev/null ||
    { echo "package.sh: lintian not found: run scripts/install-deps.sh --package (as root)" >&2; exit 1; }
  echo "== lintian"
  # --fail-on error: warnings are shown, errors fail the build of the package.
  lintian --fail-on error "$deb" | tee "$out/lintian.log" || {
    echo "package.sh: lintian found errors in $deb (above; also $out/lintian.log)" >&2
    exit 1
  }
  echo "   lintian: no errors ($(grep -c '^W:' "$out/lintian.log" || true) warnings)"
fi
echo "$deb"
