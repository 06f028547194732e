#!/bin/sh
# Peer baseline smoke test: Debian's gpiomon (libgpiod 2.1.3, the same library the daemon
# uses) counts N of N edges at a modest rate, with alternating edge types and ordered
# timestamps. Env: EDGES (default 1000), RATE (edges/s, default 1000).
. /scenarios/lib.sh
need_bin gpiomon edge_train
N=${EDGES:-1000}
RATE=${RATE:-1000}
sim_chip simE bank0:1:mon0
dev=$(sim_dev simE bank0)

mkfifo /tmp/mon
# --idle-timeout: if gpiomon misses edges (its kernel FIFO is the default 16 events) it would
# wait forever for the Nth; this ends it soon after the train instead.
on_reader_cpu timeout 60 gpiomon --banner --idle-timeout 5s -c "$dev" -e both -n "$N" -F '%o %E %S' 0 > /tmp/mon 2>&1 &
mon=$!
exec 3< /tmp/mon
# The banner comes after the request, so edges injected from here on are all seen.
read -t 10 -r banner <&3 || fail "gpiomon printed no banner"
echo "gpiomon: $banner"
edge_train -r "$RATE" -n "$N" "$(sim_pull_file simE bank0 0)" || fail "edge_train failed"
cat <&3 > /tmp/mon.out
wait_pid "$mon" 60
exec 3<&-
count=$(grep -c '^0 ' /tmp/mon.out)
check "gpiomon saw $count of $N edges" [ "$count" = "$N" ]
check "gpiomon exits 0 (got $WAIT_RC)" [ "$WAIT_RC" = 0 ]
bad=$(awk 'NR > 1 && ($2 == prev_type || $3 < prev_ts) { bad++ } { prev_type = $2; prev_ts = $3 } END { print bad + 0 }' /tmp/mon.out)
check "edge types alternate and timestamps increase ($bad bad)" [ "$bad" = 0 ]
pass "gpiomon saw $count of $N edges at $RATE edges/s"
