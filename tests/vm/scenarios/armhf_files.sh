#!/bin/sh
# vm-timeout: 180
# Files written on armhf, read on x86 (issue #14). armhf has a 32-bit long and, on Debian
# 12, a 32-bit time_t: a size or timestamp that took the platform's width would write
# different bytes there. The armhf gpioirqd (32-bit ARM, on this arm64 kernel's
# CONFIG_COMPAT, as Raspberry Pi OS 32-bit runs on a 64-bit Pi kernel) runs on the sim
# backend with tests/cross/files.toml, which has every file kind of docs/FILE-FORMATS.md
# and a state_dir with state.json and an MQTT spool. Its log/ and state/, with written/
# (its own gpioirqctl's decode of each IMU file, and state.json and the spool as it left
# them), go back to the host as armhf-files.tar; ctest vm-arm64:armhf_files_on_native reads
# them there with the native build (tests/cross/files_test.sh --written-in). Registered
# only when the armhf build's programs are in the initramfs (scripts/test.sh).
. /scenarios/lib.sh
bin=/usr/local/armhf/bin
for p in gpioirqd gpioirqctl; do
  [ -x "$bin/$p" ] || fail "no armhf $p in the initramfs ($bin)"
done
# ELF class 1: a 32-bit program, so this is the armhf build and not the arm64 one.
[ "$(od -An -tx1 -j4 -N1 "$bin/gpioirqd" | tr -d ' ')" = 01 ] || fail "$bin/gpioirqd is not a 32-bit ELF program"
[ -f /etc/gpioirq-files.toml ] || fail "no /etc/gpioirq-files.toml in the initramfs"
like_a_board
# Every EDGE row's ts_ns must need more than 32 bits: start once CLOCK_MONOTONIC is past
# 2^32 ns (4.3 s); the host checks it.
wait_until 20 "CLOCK_MONOTONIC past 4.5 s" awk '{exit !($1 > 4.5)}' /proc/uptime

dir=/tmp/files
mkdir -p "$dir/written"
sed "s|@DIR@|$dir|g" /etc/gpioirq-files.toml > "$dir/gpioirqd.toml"
"$bin/gpioirqd" -c "$dir/gpioirqd.toml" --run-seconds 4 > /tmp/writer.log 2>&1 ||
  { tail -n 30 /tmp/writer.log; fail "the armhf gpioirqd exited $?"; }
for f in events.csv imu0.imu imu1.imu; do
  [ -s "$dir/log/$f" ] || { tail -n 30 /tmp/writer.log; fail "the armhf gpioirqd wrote no $f"; }
done
cp "$dir/state/state.json" "$dir/written/state.json" || fail "the armhf gpioirqd wrote no state.json"
cp "$dir/state/mqtt/spool.dat" "$dir/written/spool.dat" || fail "the armhf gpioirqd spooled nothing"
# Exit 6: frames missing (overruns, each in the event log too), the file still whole: the
# other build must then decode it alike, exit status included (written/FILE.status).
for f in imu0.imu imu1.imu; do
  rc=0
  "$bin/gpioirqctl" decode "$dir/log/$f" > "$dir/written/$f.csv" 2> /tmp/decode.err || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 6 ] ||
    { cat /tmp/decode.err; fail "the armhf gpioirqctl cannot decode its own $f (exit $rc)"; }
  echo "$rc" > "$dir/written/$f.status"
  cat /tmp/decode.err
done
tar -cf /tmp/armhf-files.tar -C "$dir" log state written || fail "tar failed"
edges=$(grep -c '^EDGE,' "$dir/log/events.csv" || true)
emit_file armhf-files.tar /tmp/armhf-files.tar
pass "the armhf gpioirqd wrote $edges EDGE rows, 2 IMU files, state.json and $(wc -c < "$dir/written/spool.dat") spool bytes"
