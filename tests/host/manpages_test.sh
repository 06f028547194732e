#!/usr/bin/env bash
# ctest host:manpages — the man pages made by pandoc at build time (cmake/Manpages.cmake),
# checked as lintian and a user would: each renders with `man --warnings` printing nothing
# (lintian's groff-message), has its NAME section, and has not drifted from the programs:
# every long option that `gpioirqd --help` and `gpioirqctl --help` print, every gpioirqctl
# subcommand and every subcommand's own long options are in the page; every table of
# docs/CONFIGURATION.md ([daemon], [[chip]], ...) is in gpioirqd.toml(5).
# Usage: manpages_test.sh SOURCE_DIR BUILD_DIR [MAN_DIR]; exit 4 (skip) without man(1).
set -uo pipefail
src=$1
build=$2
mandir=${3:-$build/man}
command -v man >/dev/null || { echo "man not installed: skipped"; exit 4; }
gpioirqd=$build/daemon/gpioirqd
gpioirqctl=$build/daemon/gpioirqctl
failures=0
fail() { echo "host:manpages FAILED: $*"; failures=$((failures + 1)); }

# The page as a reader sees it: plain text, no hyphenation or bold escapes, and no
# word broken across a line end (an option must be found whole).
render() { MANWIDTH=1000 man -E UTF-8 -l -Tutf8 "$1" 2>/dev/null | col -bx; }
# Long options of a --help text (CLI11 lists them as "  -c,--config TEXT" or "  --version").
long_options() { grep -oE '(^|[ ,])--[a-z][a-z0-9-]*' | sed 's/^[ ,]//' | sort -u; }

for page in gpioirqd.8 gpioirqctl.1 gpioirqd.toml.5; do
  file=$mandir/$page
  [[ -s $file ]] || { fail "$file was not generated"; continue; }
  # What lintian runs (its check "groff-message"); any line on stderr is a warning.
  warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$file" 2>&1 >/dev/null)
  [[ -z $warnings ]] || fail "$page: man --warnings printed:"$'\n'"$warnings"
  text=$(render "$file")  # (not piped into grep -q: under pipefail its early exit fails man)
  grep -qE '^NAME$' <<<"$text" || fail "$page: no NAME section"
  sed -n '/^NAME$/,/^[A-Z]/p' <<<"$text" | grep -E "^ +${page%.*} +- " >/dev/null ||
    fail "$page: the NAME section does not say '${page%.*} - ...'"
done

# Every long option of a --help text appears in the page, as a reader would search for it.
# With "some", a --help without any long option fails too (the check would check nothing).
check_options() {  # PAGE_TEXT WHAT HELP_TEXT [some]
  local text=$1 what=$2 help=$3 opt n=0
  while read -r opt; do
    [[ -z $opt ]] && continue
    n=$((n + 1))
    grep -qF -- "$opt" <<<"$text" || fail "$what: option $opt (in its --help) is not in the man page"
  done < <(long_options <<<"$help")
  [[ ${4:-} != some ]] || ((n > 0)) || fail "$what: no long option found in its --help"
}

d_text=$(render "$mandir/gpioirqd.8")
check_options "$d_text" "gpioirqd" "$("$gpioirqd" --help)" some

c_text=$(render "$mandir/gpioirqctl.1")
c_help=$("$gpioirqctl" --help)
check_options "$c_text" "gpioirqctl" "$c_help" some
# Subcommands: the lines of the "Subcommands:" block of --help.
subcommands=$(sed -n '/^Subcommands:/,/^$/p' <<<"$c_help" | sed -nE 's/^  ([a-z]+) .*/\1/p')
[[ $(wc -w <<<"$subcommands") -ge 10 ]] || fail "gpioirqctl --help lists only these subcommands: $subcommands"
for sub in $subcommands; do
  # A command is documented as a term line of its own: "       status [NAME...]".
  grep -qE "^ +$sub( |$)" <<<"$c_text" || fail "gpioirqctl: subcommand '$sub' is not in the man page"
  sub_help=$("$gpioirqctl" "$sub" --help) || fail "gpioirqctl $sub --help failed"
  check_options "$c_text" "gpioirqctl $sub" "$sub_help"
done

# Every table of the configuration reference is in gpioirqd.toml(5).
t_text=$(render "$mandir/gpioirqd.toml.5")
tables=$(grep -oE '^## `\[\[?[a-z_]+\]\]?`' "$src/docs/CONFIGURATION.md" | sed -E 's/^## `(.*)`/\1/')
[[ $(wc -w <<<"$tables") -ge 7 ]] || fail "docs/CONFIGURATION.md: only these tables found: $tables"
for table in $tables; do
  grep -qE "^ +$(sed 's/[][]/\\&/g' <<<"$table")$" <<<"$t_text" || fail "gpioirqd.toml(5): no section $table"
done
# And every key of those tables (the first cell of each table row).
keys=$(grep -oE '^\| `[a-z_]+`' "$src/docs/CONFIGURATION.md" | sed -E 's/^\| `(.*)`/\1/' | sort -u)
for key in $keys; do
  grep -qE "^ +$key( |,|$)" <<<"$t_text" || fail "gpioirqd.toml(5): key '$key' is not listed"
done

((failures == 0)) || exit 1
echo "host:manpages: 3 pages render without warnings; options, subcommands, tables and keys all present"
