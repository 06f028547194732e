#!/usr/bin/env bash
# ctest host:install_doc — the configuration a new user copies from docs/INSTALL.md is one
# the daemon accepts: every ```toml block of the page, below a [daemon] table as the
# packaged /etc/gpioirqd.toml has, passes `gpioirqd --check-config`, and the check's output
# the page shows is the one the daemon prints for the first-steps configuration.
# Usage: install_doc_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1
build=$2
doc=$src/docs/INSTALL.md
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() { echo "host:install_doc FAILED: $*"; failures=$((failures + 1)); }

# Each ```toml ... ``` block into its own file.
awk -v dir="$dir" '
  /^```toml$/ { n++; file = sprintf("%s/block%d.toml", dir, n); print "[daemon]\nsocket_group = \"gpioirqd\"\n" > file; inside = 1; next }
  /^```$/ && inside { inside = 0; close(file); next }
  inside { print >> file }
' "$doc"
blocks=$(ls "$dir"/block*.toml 2>/dev/null | wc -l)
((blocks >= 2)) || fail "expected the chip example and the first-steps configuration, found $blocks toml blocks"

for block in "$dir"/block*.toml; do
  out=$("$build/daemon/gpioirqd" --check-config "$block" 2>&1) || fail "a toml block of INSTALL.md is refused: $out"
  # The block with devices is the first-steps configuration: its summary must be the
  # one the page prints.
  if grep -q '^\[\[imu\]\]' "$block"; then
    summary=${out#*: }
    grep -qF "/etc/gpioirqd.toml: $summary" "$doc" ||
      fail "INSTALL.md does not show the check's output for its configuration: '$summary'"
    shown=1
  fi
done
[[ ${shown:-0} == 1 ]] || fail "no toml block with the first-steps devices ([[imu]]) found"

((failures == 0)) || exit 1
echo "host:install_doc: $blocks toml blocks of docs/INSTALL.md pass --check-config"
