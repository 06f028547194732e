# Sourced by the tests that boot systemd as PID 1 in a container: host:systemd_service (this
# machine's own systemd) and package:install (a clean Debian 12). The caller sets `name`
# (the test's name, for messages) and `stage` (a scratch directory, removed at exit).
#
#   boot_container LOG NSPAWN_ARGS...   systemd-nspawn --boot with the caller's arguments;
#                                       returns once start-up inside is over (sets
#                                       container_state: running or degraded)
#   inside COMMAND...                   run COMMAND in the container (all its namespaces)
#   wait_for SECONDS WHAT COMMAND...    until COMMAND succeeds, else fail
#   fail MESSAGE                        exit 1, with gpioirqd's unit status and journal
#   skip MESSAGE                        exit 4 (ctest: skipped), where no container can
#                                       run here; under CI=true a failure, as for the VM
#                                       tests: CI must run them
# An EXIT trap stops the container (SIGTERM to nspawn: a poweroff from inside does not end
# such a container) and removes $stage.

nspawn_pid=
leader=
container_state=

fail() {
  echo "$name FAILED: $*"
  if [[ -n $leader ]]; then
    echo "--- systemctl status gpioirqd ---"
    inside systemctl status gpioirqd --no-pager -l 2>&1 | tail -20
    echo "--- journal of gpioirqd ---"
    inside journalctl -u gpioirqd --no-pager -o short-monotonic 2>&1 | tail -30
  fi
  echo "--- nspawn output ---"
  tail -20 "$stage/nspawn.log" 2>/dev/null
  exit 1
}

skip() {
  case "${CI:-}" in
    1 | true | TRUE | yes) fail "(CI must run it) $*" ;;
  esac
  echo "$name SKIPPED: $*"
  tail -20 "$stage/nspawn.log" 2>/dev/null
  exit 4
}

stop_container() {
  if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null
    wait "$nspawn_pid" 2>/dev/null
  fi
  rm -rf "$stage"
}
trap stop_container EXIT

inside() { nsenter --target "$leader" --all -- "$@"; }

wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not within $seconds s"
    sleep 0.2
  done
}

boot_container() {
  local log=$1
  shift
  systemd-nspawn --quiet --register=no --keep-unit --boot --console=pipe "$@" >"$log" 2>&1 </dev/null &
  nspawn_pid=$!
  # The container's PID 1 is nspawn's child.
  local deadline=$((SECONDS + 30))
  until leader=$(pgrep -P "$nspawn_pid" -x systemd) && [[ -n $leader ]]; do
    leader=
    kill -0 "$nspawn_pid" 2>/dev/null || skip "systemd-nspawn could not start a container here"
    ((SECONDS < deadline)) || skip "no systemd inside the container within 30 s"
    sleep 0.2
  done
  # is-system-running --wait returns once start-up is over (running or degraded); until
  # systemd has its private bus up it fails at once, so ask again.
  deadline=$((SECONDS + 90))
  until container_state=$(timeout 60 nsenter --target "$leader" --all -- systemctl is-system-running --wait 2>&1)
    [[ $container_state == running || $container_state == degraded ]]; do
    [[ $container_state == *"connect to bus"* ]] ||
      [[ $container_state == starting || $container_state == initializing ]] ||
      fail "the container's systemd did not boot: $container_state"
    ((SECONDS < deadline)) || fail "the container's systemd did not boot within 90 s: $container_state"
    sleep 0.2
  done
}
