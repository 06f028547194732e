#!/usr/bin/env bash
# ctest host:completion — scripts/completion/gpioirqctl.bash as `cmake --install` ships it
# and bash-completion loads it (after /usr/share/bash-completion/bash_completion, in a
# non-interactive bash), then _gpioirqctl called with COMP_WORDS/COMP_CWORD/COMP_LINE/
# COMP_POINT set as bash sets them for a <TAB> at the end of a line. Checks subcommands,
# options, file names for decode and --socket, stream names from a real gpioirqd (sim chip)
# through -s, --socket=, GPIOIRQ_SOCKET and an option after the subcommand, nothing (fast,
# silent) when no daemon answers, and that every subcommand of `gpioirqctl --help` and every
# long option of each subcommand's --help is offered (drift). Also `gpioirqctl names`, which
# the completion reads. Usage: completion_test.sh SOURCE_DIR BUILD_DIR [CMAKE]; exit 4
# (skip) without bash-completion.
# shellcheck disable=SC2086  # lists of words ($commands, $global_long ...) split on purpose
set -o pipefail
src=$1
build=$2
cmake=${3:-cmake}
bash_completion=/usr/share/bash-completion/bash_completion
[[ -r $bash_completion ]] || { echo "bash-completion not installed: skipped"; exit 4; }
failures=0
fail() { echo "host:completion FAILED: $*"; failures=$((failures + 1)); }
dir=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -CONT "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
export PATH=$build/daemon:$PATH
unset GPIOIRQ_SOCKET

# The script as `cmake --install` ships it, loaded the way bash-completion loads it on the
# first <TAB> after gpioirqctl: by the command's name from share/bash-completion/completions
# under $XDG_DATA_DIRS (HOME moved so that no user's own completions dir is read).
"$cmake" --install "$build" --prefix "$dir/usr" >"$dir/install.log" 2>&1 ||
  { fail "cmake --install failed: $(cat "$dir/install.log")"; exit 1; }
cmp -s "$dir/usr/share/bash-completion/completions/gpioirqctl" "$src/scripts/completion/gpioirqctl.bash" ||
  { fail "cmake --install did not install the script as share/bash-completion/completions/gpioirqctl"; exit 1; }
# shellcheck disable=SC1090
. "$bash_completion"
complete -r gpioirqctl 2>/dev/null
HOME=$dir XDG_DATA_DIRS=$dir/usr/share __load_completion gpioirqctl ||
  fail "bash-completion did not find a completion for gpioirqctl under $dir/usr/share"
[[ $(complete -p gpioirqctl 2>/dev/null) == "complete -F _gpioirqctl gpioirqctl" ]] ||
  fail "the script does not register _gpioirqctl for gpioirqctl: $(complete -p gpioirqctl 2>&1)"

# complete LINE: what <TAB> at the end of LINE offers, sorted, one per line, in $reply
# (COMPREPLY); the function's stderr in $dir/stderr. Words split as bash splits them for
# completion: at blanks, and at '=' (in COMP_WORDBREAKS), which becomes a word of its own.
complete_line() {
  local line=$1 word
  local -a words=()
  for word in $line; do
    while [[ $word == *=* ]]; do
      [[ -n ${word%%=*} ]] && words+=("${word%%=*}")
      words+=("=")
      word=${word#*=}
    done
    [[ -n $word ]] && words+=("$word")
  done
  [[ $line == *[[:blank:]] || $line == *= ]] && words+=("")
  COMP_WORDS=("${words[@]}")
  COMP_CWORD=$((${#words[@]} - 1))
  COMP_LINE=$line
  COMP_POINT=${#line}
  COMPREPLY=()
  _gpioirqctl gpioirqctl "${words[COMP_CWORD]}" "${words[COMP_CWORD - 1]}" 2>"$dir/stderr"
  reply=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort)
}
# expect LINE WORD...: <TAB> offers exactly these words.
expect() {
  local line=$1
  shift
  complete_line "$line"
  local want
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
  [[ $reply == "$want" ]] || fail "'$line<TAB>' offered [${reply//$'\n'/ }], expected [${want//$'\n'/ }]"
  [[ -s $dir/stderr ]] && fail "'$line<TAB>' printed: $(cat "$dir/stderr")"
}
# offers LINE WORD...: <TAB> offers at least these words.
offers() {
  local line=$1 w
  shift
  complete_line "$line"
  for w in "$@"; do
    grep -qxF -e "$w" <<<"$reply" || fail "'$line<TAB>' did not offer $w (offered: ${reply//$'\n'/ })"
  done
}

# --- What gpioirqctl's own help lists (the drift check's reference).
help=$(gpioirqctl --help) || fail "gpioirqctl --help failed"
commands=$(sed -n '/^Subcommands:/,/^$/p' <<<"$help" | awk 'NR > 1 && NF { print $1 }')
[[ $(wc -l <<<"$commands") -ge 10 ]] || fail "could not read the subcommands from --help: [$commands]"
global_long=$(sed -n '/^Options:/,/^$/p' <<<"$help" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
[[ -n $global_long ]] || fail "could not read the options from --help"

# Subcommands: all from an empty word, each exactly once; from a prefix only its matches.
expect "gpioirqctl " $commands
expect "gpioirqctl re" reload reopen reset
expect "gpioirqctl --json st" status
expect "gpioirqctl -t 2 to" top
# Options: global ones before the subcommand; a subcommand's own and the global ones after.
offers "gpioirqctl -" $global_long
complete_line "gpioirqctl --"
grep -qxF -- --format <<<"$reply" && fail "--format offered before any subcommand"
expect "gpioirqctl monitor --f" --format
expect "gpioirqctl top --int" --interval
expect "gpioirqctl -s /x status --j" --json
# Drift: every long option of every subcommand's --help is offered after that subcommand.
for command in $commands; do
  sub_help=$(gpioirqctl "$command" --help) || fail "gpioirqctl $command --help failed"
  sub_long=$(sed -n '/^Options:/,/^$/p' <<<"$sub_help" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
  [[ -n $sub_long ]] || fail "could not read the options of '$command --help'"
  offers "gpioirqctl $command --" $sub_long $global_long
done

# Files: decode's FILE, and --socket's value (whatever the form).
mkdir "$dir/logs"
touch "$dir/logs/imu0.imu" "$dir/logs/imu1.imu" "$dir/logs/events.csv"
expect "gpioirqctl decode $dir/logs/imu" "$dir/logs/imu0.imu" "$dir/logs/imu1.imu"
expect "gpioirqctl decode $dir/logs/" "$dir/logs/imu0.imu" "$dir/logs/imu1.imu" "$dir/logs/events.csv"
expect "gpioirqctl decode $dir/logs/imu0.imu " # one file only
expect "gpioirqctl --socket $dir/logs/ev" "$dir/logs/events.csv"
expect "gpioirqctl --socket=$dir/logs/ev" "$dir/logs/events.csv"
expect "gpioirqctl status -s $dir/logs/ev" "$dir/logs/events.csv"
expect "gpioirqctl --timeout " # a number: nothing to offer
expect "gpioirqctl names " encoders buttons counters imu

# --- Stream names from a real daemon.
cat >"$dir/gpioirqd.toml" <<EOF
[daemon]
log_dir = "logs"
socket_path = "ctl.sock"
rt_priority = 0
mlock = false

[[chip]]
name = "sim0"
backend = "sim"
sim_num_lines = 8

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 100

[[button]]
name = "start"
chip = "sim0"
line = 2

[[button]]
name = "door"
chip = "sim0"
line = 3
kind = "switch"

[[counter]]
name = "flow"
chip = "sim0"
line = 4

[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 50

[[poll]]
name = "entropy"
path = "/proc/sys/kernel/random/entropy_avail"
interval_ms = 1000
EOF
sock=$dir/ctl.sock
"$build/daemon/gpioirqd" -c "$dir/gpioirqd.toml" >"$dir/gpioirqd.out" 2>"$dir/gpioirqd.err" &
pid=$!
for _ in $(seq 100); do gpioirqctl -s "$sock" status >/dev/null 2>&1 && break; sleep 0.1; done
if ! gpioirqctl -s "$sock" status >/dev/null; then
  fail "gpioirqd did not answer: $(cat "$dir/gpioirqd.err")"
  exit 1
fi

# `gpioirqctl names`: what the completion reads.
[[ $(gpioirqctl -s "$sock" names | sort) == "$(printf '%s\n' door entropy flow imu0 knob start)" ]] ||
  fail "gpioirqctl names printed: $(gpioirqctl -s "$sock" names 2>&1)"
[[ $(gpioirqctl -s "$sock" names counters) == "$(printf '%s\n' flow entropy)" ]] ||
  fail "gpioirqctl names counters printed: $(gpioirqctl -s "$sock" names counters 2>&1)"
[[ $(gpioirqctl -s "$sock" names buttons | sort) == "$(printf '%s\n' door start)" ]] ||
  fail "gpioirqctl names buttons printed: $(gpioirqctl -s "$sock" names buttons 2>&1)"
gpioirqctl -s "$sock" names nosuch >/dev/null 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "gpioirqctl names nosuch exited $rc, not 2 (usage)"

all_names=(door entropy flow imu0 knob start)
expect "gpioirqctl -s $sock reset " "${all_names[@]}"
expect "gpioirqctl --socket $sock monitor " "${all_names[@]}"
expect "gpioirqctl --socket=$sock status " "${all_names[@]}"
expect "gpioirqctl -s$sock latency " "${all_names[@]}"
expect "gpioirqctl reset -s $sock " "${all_names[@]}"
expect "gpioirqctl -s $sock reset k" knob
HOME=$dir expect "gpioirqctl -s ~/ctl.sock reset k" knob
expect "gpioirqctl -s $sock monitor -n 5 --format %n knob " door entropy flow imu0 start
expect "gpioirqctl -s $sock encoders " knob
expect "gpioirqctl -s $sock buttons " door start
expect "gpioirqctl -s $sock counters " entropy flow
expect "gpioirqctl -s $sock imu " imu0
expect "gpioirqctl -s $sock reload "
expect "gpioirqctl -s $sock set f" flow
expect "gpioirqctl -s $sock set " "${all_names[@]}"
expect "gpioirqctl -s $sock set flow " # the value: the user's to type
expect "gpioirqctl reset " # the default socket: no daemon there
export GPIOIRQ_SOCKET=$sock
expect "gpioirqctl reset " "${all_names[@]}"
expect "gpioirqctl monitor s" start
expect "gpioirqctl -s $dir/nosuch.sock reset " # --socket wins over GPIOIRQ_SOCKET
unset GPIOIRQ_SOCKET

# No daemon answering: nothing, at once, silently. A stopped daemon still has its socket
# listening (the kernel accepts into the backlog) but never replies: the 1 s timeout.
timed() {
  local started=$EPOCHREALTIME
  expect "$@"
  elapsed_ms=$(((${EPOCHREALTIME/./} - ${started/./}) / 1000))
}
kill -STOP "$pid"
timed "gpioirqctl -s $sock reset "
stopped_ms=$elapsed_ms
((stopped_ms < 2000)) || fail "completing names from a stopped daemon took $stopped_ms ms"
kill -CONT "$pid"
expect "gpioirqctl -s $sock reset k" knob
kill -TERM "$pid"
wait "$pid" || fail "gpioirqd exited $?"
pid=
timed "gpioirqctl -s $sock reset "
gone_ms=$elapsed_ms
((gone_ms < 2000)) || fail "completing names with no daemon took $gone_ms ms"
timed "gpioirqctl -s $dir/no/such/dir/ctl.sock monitor "

if ((failures)); then
  echo "host:completion: $failures failures"
  exit 1
fi
echo "host:completion passed: $(wc -w <<<"$commands") subcommands, names from a stopped daemon in $stopped_ms ms, from none in $gone_ms ms"
