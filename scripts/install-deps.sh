#!/usr/bin/env bash
# Installs what gpioirq needs, from Debian's archive only. Idempotent: prints what it
# changes, and nothing when all is there.
#   scripts/install-deps.sh            everything: build, every test tier, VM, package test
#   scripts/install-deps.sh --build    only what building gpioirqd and gpioirqctl needs (a
#                                      board building from source: no test frameworks,
#                                      no qemu, no kernel source)
#   scripts/install-deps.sh --package  --build, plus what scripts/package.sh needs
#   add --check to any of these: exit 1 and list what is missing, change nothing
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

. /etc/os-release
use_backports=0
if [[ "${ID:-}" == debian && "${VERSION_CODENAME:-}" == bookworm ]]; then
  use_backports=1
fi

missing_of() {
  local pkg out=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || out+=("$pkg")
  done
  echo "${out[@]:-}"
}

# libgpiod-dev must be v2 (libgpiodcxx 2.x); bookworm's own 1.6 does not do.
gpiod_ok() {
  pkg-config --atleast-version=2.1 libgpiodcxx 2>/dev/null
}
# gpiomon is the peer baseline of the VM bench: it must be the same libgpiod v2.
gpiomon_ok() {
  command -v gpiomon >/dev/null && gpiomon --version 2>/dev/null | grep -q "v2\."
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

if ((${#miss_common[@]} + ${#miss_back[@]} + ${#miss_kernel[@]} == 0)); then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: missing: ${miss_common[*]} ${miss_back[*]} ${miss_kernel[*]}"
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

echo "install-deps: apt-get update"
apt-get update -qq
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
gpiod_ok || { echo "install-deps: libgpiodcxx >= 2.1 still not found" >&2; exit 1; }
if [[ $mode == all ]]; then
  catch2_ok || { echo "install-deps: Catch2 v3 still not found" >&2; exit 1; }
  gpiomon_ok || { echo "install-deps: gpiomon from libgpiod v2 still not found" >&2; exit 1; }
fi
echo "install-deps: done"
