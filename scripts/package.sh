#!/usr/bin/env bash
# Builds the Debian package: build/package/gpioirqd_<version>_<arch>.deb, then lints it.
#   scripts/package.sh                build (dpkg-buildpackage -b -us -uc) and run lintian
#   scripts/package.sh --arch ARCH    the same package cross-built for arm64 or armhf (the
#                                     default is the build machine's architecture)
#   GPIOIRQ_PACKAGE_DIR=DIR           put the build and the .deb there (default build/package)
#   GPIOIRQ_NO_LINTIAN=1              skip lintian (it takes half a minute)
# The build dependencies are debian/control's Build-Depends: `scripts/install-deps.sh
# --package` installs them (with --cross, those of arm64 and armhf). dpkg-buildpackage
# writes next to the source tree, so the tree is copied (the files git knows, or all but
# build directories without git) into DIR/src/gpioirqd-<version> and built there: the
# checkout stays clean.
#
# A cross build is Debian's: dpkg-buildpackage -a ARCH with the build profiles cross and
# nocheck, the cross compiler of crossbuild-essential-ARCH, the libraries of ARCH from
# Debian multiarch (libgpiod-dev:ARCH, ...), and dh_shlibdeps making Depends from ARCH's
# installed libraries. One build dependency is not installed for ARCH: libspdlog-dev:ARCH
# would pull bookworm's catch2:ARCH, which replaces the build machine's Catch2 3, so
# install-deps.sh --cross unpacks it under /var/cache/gpioirq-cross/ARCH instead (its
# runtime libspdlog1.10:ARCH is installed). So this script checks every other build
# dependency for ARCH with dpkg-checkbuilddeps, checks the unpacked libspdlog-dev and
# libspdlog1.10:ARCH itself, and then tells dpkg-buildpackage not to check again (-d);
# debian/rules hands CMake the project's toolchain file, which looks in that directory.
# Exit status: 0 when the .deb was built and lintian found no error; 2 for a bad option.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${GPIOIRQ_PACKAGE_DIR:-$root/build/package}
cd "$root"

usage() { sed -n '2,7s/^# \{0,1\}//p' "$0"; }
arch=
while (($#)); do
  case $1 in
    --arch)
      (($# >= 2)) || { echo "package.sh: --arch needs an architecture (arm64, armhf)" >&2; exit 2; }
      arch=$2
      shift 2
      ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "package.sh: unknown option $1 (--arch ARCH, --help)" >&2; exit 2 ;;
  esac
done

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
build_arch=$(dpkg-architecture -qDEB_BUILD_ARCH)
arch=${arch:-$build_arch}
cross_options=()
if [[ $arch != "$build_arch" ]]; then
  case $arch in
    arm64 | armhf) ;;
    *) echo "package.sh: cannot cross-build for '$arch': the architectures are arm64 and armhf (or $build_arch, the build machine's)" >&2; exit 2 ;;
  esac
  triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null)
  command -v "$triplet-g++" >/dev/null ||
    { echo "package.sh: $triplet-g++ not found: run scripts/install-deps.sh --cross (as root; crossbuild-essential-$arch)" >&2; exit 1; }
  dpkg --print-foreign-architectures | grep -xF "$arch" >/dev/null ||
    { echo "package.sh: $arch is not a dpkg architecture here: run scripts/install-deps.sh --cross (as root)" >&2; exit 1; }
  # Build-Depends from debian/control, one entry a line, without libspdlog-dev (below).
  build_depends=$(awk '/^Build-Depends:/ {sub(/^Build-Depends:/, ""); on = 1; print; next}
                       on && /^[ \t]/ {print; next} {on = 0}' debian/control |
    tr -d '\n' | tr ',' '\n' | sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' |
    grep -v -e '^$' -e '^libspdlog-dev\b' | paste -sd, -)
  dpkg-checkbuilddeps -a "$arch" -d "$build_depends" /dev/null ||
    { echo "package.sh: build dependencies for $arch missing (above): run scripts/install-deps.sh --cross (as root)" >&2; exit 1; }
  unpacked=${GPIOIRQ_CROSS_CACHE:-/var/cache/gpioirq-cross}/$arch
  [[ -f $unpacked/usr/lib/$triplet/cmake/spdlog/spdlogConfig.cmake ]] ||
    { echo "package.sh: libspdlog-dev for $arch is not unpacked under $unpacked: run scripts/install-deps.sh --cross (as root)" >&2; exit 1; }
  dpkg-query -W -f='${db:Status-Abbrev}' "libspdlog1.10:$arch" 2>/dev/null | grep '^ii' >/dev/null ||
    { echo "package.sh: libspdlog1.10:$arch is not installed (dh_shlibdeps needs it): run scripts/install-deps.sh --cross (as root)" >&2; exit 1; }
  echo "== build dependencies for $arch: installed, and libspdlog-dev unpacked under $unpacked"
  export GPIOIRQ_CROSS_CACHE=${GPIOIRQ_CROSS_CACHE:-/var/cache/gpioirq-cross}
  export DEB_BUILD_PROFILES="cross nocheck"
  cross_options=(-a"$arch" -d)
fi
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

echo "== dpkg-buildpackage -b -us -uc ${cross_options[*]} (gpioirqd $version, $arch)"
# Only this architecture's results: an other architecture's .deb in DIR stays.
rm -f "$out"/gpioirqd*_"$version"_"$arch".*deb "$out"/gpioirqd_"$version"_"$arch".{buildinfo,changes}
(
  cd "$src"
  export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
  if [[ $arch != "$build_arch" && " $DEB_BUILD_OPTIONS " != *" nocheck "* ]]; then
    DEB_BUILD_OPTIONS+=" nocheck"
  fi
  dpkg-buildpackage -b -us -uc "${cross_options[@]}"
) >"$out/build-$arch.log" 2>&1 || {
  tail -40 "$out/build-$arch.log" >&2
  echo "package.sh: dpkg-buildpackage failed; the whole log: $out/build-$arch.log" >&2
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
  lintian --fail-on error "$deb" | tee "$out/lintian-$arch.log" || {
    echo "package.sh: lintian found errors in $deb (above; also $out/lintian-$arch.log)" >&2
    exit 1
  }
  echo "   lintian: no errors ($(grep -c '^W:' "$out/lintian-$arch.log" || true) warnings)"
fi
echo "$deb"
