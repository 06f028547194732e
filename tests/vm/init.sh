#!/bin/sh
# /init of the gpioirq test VM (copied in by make-initramfs.sh). Runs one scenario chosen on
# the kernel command line and reports it on the serial console, then ends the VM:
#   gpioirq.scenario=NAME     runs /scenarios/NAME.sh
#   gpioirq.env.KEY=VALUE     exported to the scenario (repeatable)
#   gpioirq.shell=1           drop to a shell afterwards instead of rebooting (by hand only)
# Markers (each on its own line):
#   @@GPIOIRQ-BEGIN NAME
#   @@GPIOIRQ-RESULT NAME PASS|FAIL|SKIP detail...
#   @@GPIOIRQ-END
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root

# An image for a foreign architecture comes with busybox and /bin/sh only (make-initramfs.sh
# cannot run that busybox to link its applets): link them now, before the first applet is used.
[ -e /bin/mount ] || /bin/busybox --install -s /bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t configfs configfs /sys/kernel/config
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /run && mount -t tmpfs tmpfs /run

scenario=""
shell=0
for tok in $(cat /proc/cmdline); do
  case "$tok" in
    gpioirq.scenario=*) scenario="${tok#gpioirq.scenario=}" ;;
    gpioirq.env.*=*) export "${tok#gpioirq.env.}" ;;
    gpioirq.shell=1) shell=1 ;;
  esac
done

echo "@@GPIOIRQ-BEGIN ${scenario:-none}"
status=FAIL
detail=""
if [ -z "$scenario" ]; then
  detail="no gpioirq.scenario= on the kernel command line"
elif [ ! -f "/scenarios/$scenario.sh" ]; then
  detail="no scenario /scenarios/$scenario.sh in the initramfs"
else
  export GPIOIRQ_RESULT_FILE=/tmp/gpioirq-result-detail
  ( cd /tmp && sh "/scenarios/$scenario.sh" )
  rc=$?
  detail="$(cat "$GPIOIRQ_RESULT_FILE" 2>/dev/null)"
  case "$rc" in
    0) status=PASS ;;
    77) status=SKIP ;;
    *) status=FAIL; detail="exit $rc${detail:+: $detail}" ;;
  esac
fi
echo "@@GPIOIRQ-RESULT ${scenario:-none} $status $detail"
echo "@@GPIOIRQ-END"
if [ "$shell" = 1 ]; then
  setsid cttyhack sh
fi
sync
reboot -f
# reboot -f only returns on failure; keep PID 1 alive so the kernel does not panic first.
while :; do sleep 1; done
