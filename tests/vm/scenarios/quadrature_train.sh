#!/bin/sh
# The encoder-style edge train the decoder tests build on, checked through the real kernel:
# FWD quadrature steps forward with BOUNCE bounce pulses before every wanted edge, then REV
# steps back without bounce. Every write must arrive as one event (seqnos contiguous, types
# alternating) and both lines must end where the Gray sequence says (00 after multiples of 4).
# Env: FWD (default 400), REV (default 100), BOUNCE (default 2), RATE (steps/s, default 2000).
. /scenarios/lib.sh
need_bin gpiod_probe edge_train
FWD=${FWD:-400}
REV=${REV:-100}
BOUNCE=${BOUNCE:-2}
RATE=${RATE:-2000}
[ $((FWD % 4)) = 0 ] && [ $((REV % 4)) = 0 ] || fail "FWD and REV must be multiples of 4"
sim_chip simQ bank0:2:enc_a,enc_b
dev=$(sim_dev simQ bank0)
A=$(sim_pull_file simQ bank0 0)
B=$(sim_pull_file simQ bank0 1)

# Each line moves on half of the steps; each move is 1 + 2*BOUNCE writes.
per_line=$(( FWD / 2 * (1 + 2 * BOUNCE) + REV / 2 ))
start_ready probe 10 gpiod_probe --expect "$per_line" --check-types --timeout-ms 60000 "$dev:enc_a,enc_b"
edge_train -q -b "$BOUNCE" -r "$RATE" -n "$FWD" "$A" "$B" || fail "forward train"
edge_train -q -R -r "$RATE" -n "$REV" "$A" "$B" || fail "reverse train"
wait_pid "$READY_PID" 70
cat /tmp/probe.out
check "probe checks pass (exit $WAIT_RC)" [ "$WAIT_RC" = 0 ]
check "A back at 0" [ "$(sim_value simQ bank0 0)" = 0 ]
check "B back at 0" [ "$(sim_value simQ bank0 1)" = 0 ]
pass "$FWD steps forward (bounce $BOUNCE) + $REV back: $per_line edges per line, none lost or merged"
