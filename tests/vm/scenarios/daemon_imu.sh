#!/bin/sh
# Two MPU-6050s on i2c-stub (0x68: extended frames, 0x69: seed frames) with their data
# registers (0x3B..0x48) set to known values, each sampled by the real gpioirqd on the rising
# edges of its own gpio-sim data-ready line, driven by one train of FRAMES rising edges at
# RATE Hz. Then: the daemon's set-up writes are in the stub's registers; status/imu show
# FRAMES edges and frames, no overruns, no I2C errors; each IMU file decodes
# (gpioirqctl decode, exit 0) to exactly FRAMES frames, all with exactly the register values,
# counters 0..FRAMES-1, extended timestamps non-decreasing and inside the run, the last one
# equal to the kernel timestamp of the last data-ready edge (status lines last_ts_ns); no GAP rows.
# Env: FRAMES (default 1000), RATE (data-ready edges/s, default 1000).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get edge_train i2c_regs
FRAMES=${FRAMES:-1000}
RATE=${RATE:-1000}

i2c_stub_load 0x68,0x69
bus=$I2C_BUS
# ax ay az temp gx gy gz, big-endian, from ACCEL_XOUT_H (0x3B).
i2c_regs "$bus" 0x68 write 0x3b 0x12 0x34 0xff 0xfe 0x40 0x00 0xfc 0x18 0x00 0x01 0xfe 0xd4 0x7f 0xff ||
  fail "writing imu0 data registers"
VALUES0="4660,-2,16384,-1000,1,-300,32767"
i2c_regs "$bus" 0x69 write 0x3b 0xc0 0x00 0x00 0x64 0x20 0x00 0x00 0x00 0x80 0x00 0x00 0x00 0x01 0x02 ||
  fail "writing imu1 data registers"
VALUES1="-16384,100,8192"   # seed frames carry the accelerometer only
# WHO_AM_I, which the daemon reads at start.
i2c_regs "$bus" 0x68 write 0x75 0x68 && i2c_regs "$bus" 0x69 write 0x75 0x68 || fail "writing WHO_AM_I"

sim_chip simI bank0:2:int0,int1
daemon_config imu
cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "soc"
label = "simI-bank0"

[[imu]]
name = "imu0"
i2c_bus = "/dev/i2c-$bus"
address = 0x68
trigger = "data-ready"
chip = "soc"
data_ready = "int0"
bias = "pull-down"
rate_hz = 1000
format = "extended"
accel_range_g = 4
gyro_range_dps = 500
dlpf = 1

[[imu]]
name = "imu1"
i2c_bus = "/dev/i2c-$bus"
address = 0x69
trigger = "data-ready"
chip = "soc"
data_ready = 1
bias = "pull-down"
rate_hz = 1000
dlpf = 0
format = "seed"
EOF
daemon_start

# The set-up sequence (PWR_MGMT_1, SMPLRT_DIV, CONFIG, GYRO_CONFIG, ACCEL_CONFIG,
# INT_PIN_CFG, INT_ENABLE) as the stub now holds it.
reg() { i2c_regs "$bus" "$1" read "$2" 1; }
check "imu0 set-up: PWR_MGMT_1 01 SMPLRT_DIV 00 CONFIG 01 GYRO_CONFIG 08 ACCEL_CONFIG 08 INT_PIN_CFG 10 INT_ENABLE 01" \
  [ "$(reg 0x68 0x6b) $(reg 0x68 0x19) $(reg 0x68 0x1a) $(reg 0x68 0x1b) $(reg 0x68 0x1c) $(reg 0x68 0x37) $(reg 0x68 0x38)" = \
    "01 00 01 08 08 10 01" ]
check "imu1 set-up: SMPLRT_DIV 07 CONFIG 00 (8 kHz / 8, filter off), ranges 2 g / 250 dps, INT_ENABLE 01" \
  [ "$(reg 0x69 0x19) $(reg 0x69 0x1a) $(reg 0x69 0x1b) $(reg 0x69 0x1c) $(reg 0x69 0x38)" = "07 00 00 00 01" ]

# FRAMES rising edges on each line = 2*FRAMES steps at 2*RATE steps/s.
edge_train -r $((2 * RATE)) -n $((2 * FRAMES)) \
  "$(sim_pull_file simI bank0 0)" "$(sim_pull_file simI bank0 1)" || fail "edge_train failed"
imu_frames_are() {
  gpioirqctl --json imu > /tmp/imu.json 2>/dev/null &&
    [ "$(jget /tmp/imu.json 'imu[name=imu0].frames')" = "$FRAMES" ] &&
    [ "$(jget /tmp/imu.json 'imu[name=imu1].frames')" = "$FRAMES" ]
}
wait_until 20 "gpioirqd to take $FRAMES frames on each IMU" imu_frames_are
ctl_json /tmp/imu.json imu
ctl_json /tmp/status.json status
cat /tmp/imu.json
for m in imu0 imu1; do
  check "$m: data_ready line: $FRAMES edges, kernel_lost 0, ring_dropped 0" \
    [ "$(jget /tmp/status.json "lines[device=$m].edges")" = "$FRAMES" -a \
      "$(jget /tmp/status.json "lines[device=$m].kernel_lost")" = 0 -a \
      "$(jget /tmp/status.json "lines[device=$m].ring_dropped")" = 0 ]
  check "$m: overruns 0, i2c_errors 0, not degraded" \
    [ "$(jget /tmp/imu.json "imu[name=$m].overruns")" = 0 -a "$(jget /tmp/imu.json "imu[name=$m].i2c_errors")" = 0 -a \
      "$(jget /tmp/imu.json "imu[name=$m].degraded")" = false ]
done
# The kernel timestamp of each IMU's last data-ready edge, to compare with its last frame.
last_edge0=$(jget /tmp/status.json 'lines[device=imu0].last_ts_ns')
file0=$(jget /tmp/imu.json 'imu[name=imu0].file')
file1=$(jget /tmp/imu.json 'imu[name=imu1].file')

daemon_stop
check "no GAP rows" [ "$(log_rows GAP)" = 0 ]
start_ts=$(marker_ts START)
stop_ts=$(marker_ts STOP)

# decode_check NAME FILE VALUES COLUMNS: decodes FILE and checks every frame.
decode_check() {
  gpioirqctl decode "$2" > "/tmp/$1.csv"
  rc=$?
  head -n 4 "/tmp/$1.csv" | sed "s/^/$1.csv: /"
  check "$1: decode exits 0 (no discontinuity, nothing skipped) (got $rc)" [ "$rc" = 0 ]
  check "$1: no comment lines after the header" [ "$(awk 'NR > 3 && /^#/' "/tmp/$1.csv" | wc -l)" = 0 ]
  check "$1: columns $4" [ "$(grep -v '^#' "/tmp/$1.csv" | head -n1)" = "$4" ]
  # counter, ts_ns, values...: FRAMES rows, counters 0.., values exact, ts non-decreasing.
  summary=$(grep -v '^#' "/tmp/$1.csv" | awk -F, -v want="$3" -v t0="$start_ts" -v t1="$stop_ts" '
    NR == 1 { next }
    {
      n++
      if ($1 != n - 1) badcount++
      v = $3; for (i = 4; i <= NF; i++) v = v "," $i
      if (v != want) { badval++; if (!shown++) print "first bad row: " $0 > "/dev/stderr" }
      if ($2 != "") { if (prev != "" && $2 < prev) { tsback++; if (tsback <= 5) print "timestamp went back: " prevrow " -> " $0 > "/dev/stderr" }; prevrow = $0; if ($2 <= t0 || $2 >= t1) tsout++; prev = $2; ts++ }
    }
    END { printf "decoded frames=%d bad_counter=%d bad_values=%d ts=%d ts_back=%d ts_outside=%d\n", n, badcount, badval, ts, tsback, tsout }')
  echo "$1: $summary"
  check "$1: $FRAMES frames, one per rising edge" [ "$(echo "$summary" | kv frames)" = "$FRAMES" ]
  check "$1: counters 0..$((FRAMES - 1)) continuous" [ "$(echo "$summary" | kv bad_counter)" = 0 ]
  check "$1: every frame = ($3)" [ "$(echo "$summary" | kv bad_values)" = 0 ]
  # Non-decreasing, not increasing: when the VM's kernel failed to calibrate its TSC it runs
  # on the jiffies clocksource, and edges within one 1 ms tick share a timestamp.
  check "$1: timestamps non-decreasing, inside the run" \
    [ "$(echo "$summary" | kv ts_back)" = 0 -a "$(echo "$summary" | kv ts_outside)" = 0 ]
}
decode_check imu0 "$file0" "$VALUES0" "counter,ts_ns,ax,ay,az,temp,gx,gy,gz"
check "imu0 extended frames carry timestamps" [ "$(echo "$summary" | kv ts)" = "$FRAMES" ]
last_frame_ts=$(grep -v '^#' /tmp/imu0.csv | tail -n1 | cut -d, -f2)
check "imu0: the last frame's timestamp $last_frame_ts is its data-ready edge's kernel timestamp $last_edge0" \
  [ -n "$last_edge0" -a "$last_frame_ts" = "$last_edge0" ]
decode_check imu1 "$file1" "$VALUES1" "counter,ts_ns,ax,ay,az"
check "imu0 header in the decode" grep -q "trigger=data_ready accel_range_g=4 gyro_range_dps=500 dlpf=1 i2c_address=0x68" /tmp/imu0.csv
check "imu1 header in the decode (seed, filter off, 0x69)" grep -q "layout=seed" /tmp/imu1.csv
check "imu1 header: dlpf 0, address 0x69" grep -q "dlpf=0 i2c_address=0x69" /tmp/imu1.csv
pass "2 IMUs on i2c-stub: $FRAMES of $FRAMES frames each, one per data-ready edge, values exact, counters continuous, no overruns"
