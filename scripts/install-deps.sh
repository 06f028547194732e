#!/usr/bin/env bash
# Installs what gpioirq needs, from Debian's archive only. Idempotent: prints what it
# changes, and nothing when all is there.
#   scripts/install-deps.sh            everything: build, every test tier, VM, package test,
#                                      and the arm64/armhf cross builds and their tests
#                                      under qemu-user (see "Cross builds" below)
#   scripts/install-deps.sh --build    only what building gpioirqd and gpioirqctl needs (a
#                                      board building from source: no test frameworks,
#                                      no qemu, no kernel source)
#   scripts/install-deps.sh --package  --build, plus what scripts/package.sh needs
#   add --check to any of these: exit 1 and list what is missing, change nothing
# GPIOIRQ_CROSS_CACHE (default /var/cache/gpioirq-cross): where the cross builds' unpacked
# Catch2 3 and spdlog live (cmake/toolchains/cross-common.cmake reads the same variable).
set -euo pipefail

mode=all
check_only=0
for arg in "$@"; do
  case $arg in
    --check) check_only=1 ;;
    --build) mode=build ;;
    --package) mode=package ;;
    *) echo "install-deps: unknown option $arg (--build, --package, --check)" >&2; exit 2 ;;
  esac
done

# What building the daemon and its client needs (and libgpiod-dev from backports, below).
build=(
  build-essential cmake pkg-config ca-certificates
  liburing-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libsystemd-dev
  nlohmann-json3-dev libcli11-dev
  libmosquitto-dev  # lib/mqtt: the MQTT client (issue #13)
)
# What scripts/package.sh needs on top (debian/control's Build-Depends, and the tools).
package=(
  dpkg-dev debhelper
  pandoc  # the man pages are made from docs/ at build time
  lintian
)
# What the tests need on top.
tests=(
  git
  libbenchmark-dev libboost-dev libreaderwriterqueue-dev
  i2c-tools
  qemu-system-x86 busybox-static cpio gzip xz-utils bc bison flex libelf-dev libssl-dev
  qemu-system-arm  # qemu-system-aarch64: the arm64 guest of the vm-arm64 tier
  python3 util-linux procps
  bash-completion  # host:completion loads scripts/completion/gpioirqctl.bash with its helpers
  man-db  # host:manpages renders the pages with man, as lintian does
  logrotate  # host:logrotate runs the shipped snippet (config/gpioirqd.logrotate) through it
  systemd  # systemd-analyze, which the host:systemd_unit test parses the unit with
  systemd-container  # systemd-nspawn: host:systemd_service and package:install boot systemd
  mmdebstrap  # package:install makes a clean Debian 12 root to install the .deb in
  clang-14 libfuzzer-14-dev  # the libFuzzer build of tests/fuzz (scripts/test.sh, scripts/fuzz.sh)
  mosquitto mosquitto-clients  # the broker and mosquitto_sub that test_mqtt_client starts
  openssl  # test_mqtt_client makes its own CA and broker certificate for the TLS case
)
case $mode in
  build) common=("${build[@]}") ;;
  package) common=("${build[@]}" "${package[@]}") ;;
  all) common=("${build[@]}" "${package[@]}" "${tests[@]}") ;;
esac
# Packages that Debian 12 only has new enough in bookworm-backports.
backported=(libgpiod-dev gpiod catch2)
# linux-source-6.12 lives in bookworm-backports on Debian 12 and in the main suite on 13.
kernel_source=(linux-source-6.12)

# Cross builds (mode all): cmake/toolchains/ builds for these Debian architectures with
# Debian's cross compilers and the foreign architecture's libraries (multiarch), and the
# tests run under qemu-user through binfmt_misc.
cross_arches=(arm64 armhf)
declare -A cross_triplet=([arm64]=aarch64-linux-gnu [armhf]=arm-linux-gnueabihf)
declare -A cross_qemu=([arm64]=qemu-aarch64 [armhf]=qemu-arm)
cross_tools=(crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user-static)
# Installed as <package>:<arch>: all Multi-Arch: same, so they sit beside the host's own.
cross_libs=(liburing-dev libfmt-dev libtomlplusplus-dev libsystemd-dev libmosquitto-dev libspdlog1.10)
# Not installed but unpacked into $cross_cache/<arch>: libcatch2-dev is not Multi-Arch: same
# (it would replace the host's), and libspdlog-dev:<arch> depends on bookworm's
# catch2:<arch>, whose installation removes the host's Catch2 3. libspdlog1.10 comes along
# because libspdlog-dev's libspdlog.so points at it.
cross_unpacked=(libcatch2-dev libspdlog-dev libspdlog1.10)
cross_cache=${GPIOIRQ_CROSS_CACHE:-/var/cache/gpioirq-cross}
binfmt=/proc/sys/fs/binfmt_misc

. /etc/os-release
use_backports=0
if [[ "${ID:-}" == debian && "${VERSION_CODENAME:-}" == bookworm ]]; then
  use_backports=1
fi

missing_of() {
  local pkg out=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep "install ok installed" >/dev/null || out+=("$pkg")
  done
  echo "${out[@]:-}"
}

# libgpiod-dev must be v2 (libgpiodcxx 2.x); bookworm's own 1.6 does not do.
gpiod_ok() {
  pkg-config --atleast-version=2.1 libgpiodcxx 2>/dev/null
}
# gpiomon is the peer baseline of the VM bench: it must be the same libgpiod v2.
gpiomon_ok() {
  command -v gpiomon >/dev/null && gpiomon --version 2>/dev/null | grep "v2\." >/dev/null
}
catch2_ok() {
  pkg-config --atleast-version=3 catch2-with-main 2>/dev/null
}

read -r -a miss_common <<<"$(missing_of "${common[@]}")"
miss_back=()
gpiod_ok || miss_back+=(libgpiod-dev)
miss_kernel=()
if [[ $mode == all ]]; then
  gpiomon_ok || miss_back+=(gpiod)
  catch2_ok || miss_back+=(catch2)
  read -r -a miss_kernel <<<"$(missing_of "${kernel_source[@]}")"
fi

# The cross pieces: each missing one is a word of miss_cross (printed by --check).
foreign_arch_ok() {  # (not grep -q: under pipefail, dpkg's SIGPIPE when grep stops early fails it)
  dpkg --print-foreign-architectures | grep -x "$1" >/dev/null
}
cross_gpiod_ok() {  # arch: libgpiodcxx >= 2.1 (bookworm-backports) for that architecture
  PKG_CONFIG_LIBDIR=/usr/lib/${cross_triplet[$1]}/pkgconfig PKG_CONFIG_PATH='' \
    pkg-config --atleast-version=2.1 libgpiodcxx 2>/dev/null
}
# The newest version of package:arch in the archive ("" when there is none); with a suite,
# only that suite's. From $madison (apt-cache madison of the cross_unpacked packages, one
# call for all: each call reads every package list, seconds on a busy machine).
madison=""
newest_version() {  # package:arch [suite]
  awk -F' [|] ' -v pkg="$1" -v suite="${2:-}" '{gsub(/ /, "", $1)}
    $1 == pkg && $3 ~ / Packages$/ && (suite == "" || $3 ~ (" " suite "/")) {print $2}' <<<"$madison" |
    tr -d ' ' | sort -V | tail -1
}
unpacked_version() {  # arch package: the version unpacked into the cache, "" if none
  cat "$cross_cache/$1/.unpacked/$2" 2>/dev/null || true
}
# The version the cache should hold: on Debian 12 libcatch2-dev (Catch2 3) is only in
# bookworm-backports.
wanted_unpacked_version() {  # arch package
  if ((use_backports)) && [[ $2 == libcatch2-dev ]]; then
    newest_version "$2:$1" bookworm-backports
  else
    newest_version "$2:$1"
  fi
}
binfmt_ok() {  # qemu name
  [[ -e $binfmt/$1 ]]
}
miss_cross=()
miss_cross_pkgs=()  # the packages among them (apt-get install)
stale_cache=()      # the architectures whose unpacked packages are missing or out of date
if [[ $mode == all ]]; then
  [[ -e $binfmt/register ]] || miss_cross+=("binfmt_misc(not-mounted)")
  for arch in "${cross_arches[@]}"; do
    foreign_arch_ok "$arch" || miss_cross+=("dpkg-architecture:$arch")
  done
  read -r -a miss_tools <<<"$(missing_of "${cross_tools[@]}")"
  miss_cross_pkgs+=("${miss_tools[@]}")
  madison_args=()
  for arch in "${cross_arches[@]}"; do
    madison_args+=("${cross_unpacked[@]/%/:$arch}")
  done
  madison=$(apt-cache madison "${madison_args[@]}" 2>/dev/null || true)
  for arch in "${cross_arches[@]}"; do
    read -r -a miss_libs <<<"$(missing_of "${cross_libs[@]/%/:$arch}")"
    miss_cross_pkgs+=("${miss_libs[@]}")
    cross_gpiod_ok "$arch" || miss_cross_pkgs+=("libgpiod-dev:$arch")
    for pkg in "${cross_unpacked[@]}"; do
      have=$(unpacked_version "$arch" "$pkg")
      # Offline (no package lists), a cache that has a version stays good enough.
      want=$(wanted_unpacked_version "$arch" "$pkg")
      if [[ -z $have || (-n $want && $have != "$want") ]]; then
        miss_cross+=("$cross_cache/$arch:$pkg${want:+=$want}")
        [[ " ${stale_cache[*]} " == *" $arch "* ]] || stale_cache+=("$arch")
      fi
    done
    binfmt_ok "${cross_qemu[$arch]}" || miss_cross+=("binfmt:${cross_qemu[$arch]}")
  done
  miss_cross+=("${miss_cross_pkgs[@]}")
fi

if ((${#miss_common[@]} + ${#miss_back[@]} + ${#miss_kernel[@]} + ${#miss_cross[@]} == 0)); then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: missing: ${miss_common[*]} ${miss_back[*]} ${miss_kernel[*]} ${miss_cross[*]}"
((check_only)) && exit 1

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: run as root (apt-get install is needed)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ((use_backports)); then
  src=/etc/apt/sources.list.d/gpioirq-bookworm-backports.sources
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same archive and keyring as the main suite, read from debian.sources when present.
    uri=http://deb.debian.org/debian
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    echo "install-deps: adding $src (suite bookworm-backports from $uri)"
    cat >"$src" <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
fi

if [[ $mode == all ]]; then
  if [[ ! -e $binfmt/register ]]; then
    echo "install-deps: mounting binfmt_misc on $binfmt"
    mount -t binfmt_misc binfmt_misc "$binfmt"
  fi
  for arch in "${cross_arches[@]}"; do
    if ! foreign_arch_ok "$arch"; then
      echo "install-deps: dpkg --add-architecture $arch"
      dpkg --add-architecture "$arch"
    fi
  done
fi

# A foreign architecture's index can fail while a mirror syncs (seen: armhf of
# bookworm-security). One retry, then go on with the lists there are: a package that is
# then truly missing makes its apt-get install fail below.
echo "install-deps: apt-get update"
if ! apt-get update -qq; then
  echo "install-deps: apt-get update failed; retrying once in 10 s" >&2
  sleep 10
  apt-get update -qq || echo "install-deps: warning: apt-get update failed again; going on with the package lists there are" >&2
fi
if [[ $mode == all ]]; then
  madison=$(apt-cache madison "${madison_args[@]}" 2>/dev/null || true)  # the lists just fetched
fi
if ((${#miss_common[@]})); then
  echo "install-deps: installing ${miss_common[*]}"
  apt-get install -y -qq --no-install-recommends "${miss_common[@]}"
fi
if ((${#miss_back[@]} + ${#miss_kernel[@]})); then
  if ((use_backports)); then
    echo "install-deps: installing from bookworm-backports: ${miss_back[*]} ${miss_kernel[*]}"
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "${miss_back[@]}" "${miss_kernel[@]}"
  else
    echo "install-deps: installing ${miss_back[*]} ${miss_kernel[*]}"
    apt-get install -y -qq --no-install-recommends "${miss_back[@]}" "${miss_kernel[@]}"
  fi
fi

# Installs packages of the foreign architectures (and what they pull in), never removing
# one: apt's plan is simulated first, and a plan that removes a package is refused (the
# wrong foreign install removes the host's Catch2 3, see cross_unpacked).
install_cross_packages() {  # apt package arguments
  local plan
  if ! plan=$(apt-get install -s -y --no-install-recommends "$@" 2>&1); then
    # Usually version skew: a Multi-Arch: same library must have the same version for every
    # architecture, and the host's can be newer (a security update) than the foreign one.
    echo "install-deps: apt cannot install $* as they are; aligning the versions of the Multi-Arch: same libraries"
    local pins=() pin_words
    pin_words=$(multiarch_pins "$@")  # (exits with its message when versions cannot align)
    read -r -a pins <<<"$pin_words"
    ((${#pins[@]})) && echo "install-deps: pinning ${pins[*]}"
    if ! plan=$(apt-get install -s -y --no-install-recommends "$@" "${pins[@]}" 2>&1); then
      echo "$plan" >&2
      echo "install-deps: apt cannot install $* (above), also with the versions aligned" >&2
      exit 1
    fi
    set -- "$@" "${pins[@]}"
  fi
  if grep -q '^Remv ' <<<"$plan"; then
    grep '^Remv ' <<<"$plan" >&2
    echo "install-deps: refusing: installing $* would remove the packages above" >&2
    exit 1
  fi
  echo "install-deps: installing $*"
  apt-get install -y -qq --no-install-recommends "$@"
}

# For each Multi-Arch: same package in the dependency closure of the given foreign
# packages that the host has installed: the foreign version must equal the host's. Prints
# the pins that make it so: package:<foreign>=<host's version> when the foreign
# architecture has that version; else the highest version both architectures have that is
# not older than the host's, for both (the host's is upgraded to it). Fails when neither.
multiarch_pins() {  # apt package arguments (package:arch[/suite])
  local native names name arch host_version candidate common best pins=()
  native=$(dpkg --print-architecture)
  names=("${@%%/*}")
  while read -r name; do
    arch=${name##*:}
    [[ $name == *:* && $arch != "$native" ]] || continue
    name=${name%:*}
    host_version=$(dpkg-query -W -f='${Status} ${Version}' "$name:$native" 2>/dev/null |
      awk '$3 == "installed" {print $4}')
    [[ -n $host_version ]] || continue
    apt-cache show "$name:$arch" 2>/dev/null | grep -x 'Multi-Arch: same' >/dev/null || continue
    candidate=$(apt-cache policy "$name:$arch" | awk '/Candidate:/ {print $2}')
    [[ $candidate != "$host_version" ]] || continue
    if apt-cache madison "$name:$arch" | awk -F' [|] ' '{print $2}' | tr -d ' ' | grep -xF "$host_version" >/dev/null; then
      pins+=("$name:$arch=$host_version")
      continue
    fi
    common=$(comm -12 <(apt-cache madison "$name:$arch" | awk -F' [|] ' '{print $2}' | tr -d ' ' | sort -u) \
      <(apt-cache madison "$name:$native" | awk -F' [|] ' '{print $2}' | tr -d ' ' | sort -u))
    best=$(sort -V <<<"$common" | tail -1)
    if [[ -z $best ]] || ! dpkg --compare-versions "$best" ge "$host_version"; then
      echo "install-deps: $name is $host_version on $native, and $arch has no version >= it that $native has too" \
        "($arch: $(apt-cache madison "$name:$arch" | awk -F' [|] ' '{print $2}' | tr -d ' ' | tr '\n' ' '))." \
        "Wait for the mirror to carry it, or install $name:$arch by hand." >&2
      exit 1
    fi
    pins+=("$name:$native=$best" "$name:$arch=$best")
  done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${names[@]}" 2>/dev/null | grep -E '^[a-z0-9]' | sort -u)
  echo "${pins[*]:-}"
}

# Catch2 3 and spdlog for a foreign architecture, unpacked (not installed) into
# $cross_cache/<arch>, each package's version in .unpacked/<package>. A new directory
# replaces the old one whole, so a newer version never mixes with files of an older one.
unpack_cross() {  # arch
  local arch=$1 dir=$cross_cache/$1 new work pkg version deb
  mkdir -p "$cross_cache"
  new=$(mktemp -d "$cross_cache/.$arch.new.XXXXXX")
  work=$(mktemp -d)
  chmod 755 "$new"
  # apt-get download fetches as the user _apt, who must be able to write there.
  if id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
  for pkg in "${cross_unpacked[@]}"; do
    version=$(wanted_unpacked_version "$arch" "$pkg")
    if [[ -z $version ]]; then
      echo "install-deps: $pkg:$arch is not in the package lists (bookworm-backports for libcatch2-dev)" >&2
      rm -rf "$new" "$work"
      exit 1
    fi
    echo "install-deps: unpacking $pkg:$arch $version into $dir"
    (cd "$work" && apt-get download -qq "$pkg:$arch=$version") || true
    deb=$(find "$work" -maxdepth 1 -name "${pkg}_*_$arch.deb" | sed -n 1p)
    if [[ -z $deb ]]; then
      echo "install-deps: apt-get download $pkg:$arch=$version failed" >&2
      rm -rf "$new" "$work"
      exit 1
    fi
    dpkg-deb -x "$deb" "$new"
    mkdir -p "$new/.unpacked"
    echo "$version" >"$new/.unpacked/$pkg"
  done
  rm -rf "$work"
  if [[ -e $dir ]]; then
    mv "$dir" "$new.old"
    mv "$new" "$dir"
    rm -rf "$new.old"
  else
    mv "$new" "$dir"
  fi
}

if [[ $mode == all ]]; then
  if ((${#miss_cross_pkgs[@]})); then
    # libgpiod-dev (v2) for the foreign architectures comes from bookworm-backports, named
    # as package/suite so that only it (and what it needs from there) comes from backports.
    cross_args=()
    for pkg in "${miss_cross_pkgs[@]}"; do
      if ((use_backports)) && [[ $pkg == libgpiod-dev:* ]]; then
        cross_args+=("$pkg/bookworm-backports")
      else
        cross_args+=("$pkg")
      fi
    done
    install_cross_packages "${cross_args[@]}"
  fi
  for arch in "${stale_cache[@]}"; do
    unpack_cross "$arch"
  done
  for arch in "${cross_arches[@]}"; do
    qemu=${cross_qemu[$arch]}
    if ! binfmt_ok "$qemu"; then
      conf=/usr/lib/binfmt.d/$qemu.conf
      [[ -f $conf ]] || { echo "install-deps: $conf is missing (qemu-user-static)" >&2; exit 1; }
      echo "install-deps: registering $qemu with binfmt_misc (from $conf)"
      grep -v '^#' "$conf" >"$binfmt/register"
    fi
  done
fi

gpiod_ok || { echo "install-deps: libgpiodcxx >= 2.1 still not found" >&2; exit 1; }
if [[ $mode == all ]]; then
  catch2_ok || { echo "install-deps: Catch2 v3 still not found" >&2; exit 1; }
  gpiomon_ok || { echo "install-deps: gpiomon from libgpiod v2 still not found" >&2; exit 1; }
  for arch in "${cross_arches[@]}"; do
    cross_gpiod_ok "$arch" || { echo "install-deps: libgpiodcxx >= 2.1 for $arch still not found" >&2; exit 1; }
    for pkg in "${cross_unpacked[@]}"; do
      [[ -n $(unpacked_version "$arch" "$pkg") ]] ||
        { echo "install-deps: $pkg for $arch is not unpacked in $cross_cache/$arch" >&2; exit 1; }
    done
    binfmt_ok "${cross_qemu[$arch]}" ||
      { echo "install-deps: ${cross_qemu[$arch]} is not registered with binfmt_misc" >&2; exit 1; }
  done
fi
echo "install-deps: done"
