#!/bin/sh
# The kernel's edge FIFO overflows for real: a request with event_buffer_size 16 is not read
# while a burst of edges arrives; afterwards the reader finds line_seqno gaps, and the loss
# they give equals injected - read exactly (per line and in total).
# Env: EDGES (per line, default 200), BUFFER (default 16).
. /scenarios/lib.sh
need_bin gpiod_probe edge_train
N=${EDGES:-200}
BUF=${BUFFER:-16}
sim_chip simD bank0:2
dev=$(sim_dev simD bank0)

mkfifo /tmp/go
start_ready probe 10 gpiod_probe --buffer "$BUF" --expect "$N" --expect-lost -1 --go-fifo /tmp/go \
  --timeout-ms 30000 "$dev:0,1"
edge_train -r 0 -n "$N" "$(sim_pull_file simD bank0 0)" "$(sim_pull_file simD bank0 1)" || fail "edge_train failed"
echo go > /tmp/go
wait_pid "$READY_PID" 40
cat /tmp/probe.out
check "probe checks pass (exit $WAIT_RC)" [ "$WAIT_RC" = 0 ]
events=$(grep '^probe total' /tmp/probe.out | kv events)
lost=$(grep '^probe total' /tmp/probe.out | kv lost)
injected=$((2 * N))
check "the FIFO overflowed (read $events < injected $injected)" [ "$events" -lt "$injected" ]
check "loss $lost == injected $injected - read $events" [ "$lost" = $((injected - events)) ]
check "read exactly the kernel FIFO size $BUF" [ "$events" = "$BUF" ]
pass "injected $injected, read $events, seqno gaps $lost = injected - read"
