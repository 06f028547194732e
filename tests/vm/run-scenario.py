#!/usr/bin/env python3
"""Boots the gpioirq test VM for one scenario and turns its console markers into an exit code.

  tests/vm/run-scenario.py --scenario NAME --initrd INITRD [--arch x86_64|arm64] [--kernel IMAGE]
                           [--timeout S] [--env KEY=VALUE]... [--log-dir DIR] [--out-dir DIR]
                           [--append ARGS]

--arch x86_64 (default): qemu-system-x86_64, console ttyS0, the kernel of build-kernel.sh.
--arch arm64: qemu-system-aarch64 -M virt -cpu cortex-a53 (TCG), console ttyAMA0, the kernel
of build-kernel.sh --arch arm64; the initramfs must hold arm64 binaries.

Exit codes: 0 PASS, 1 FAIL, 77 SKIP. "Cannot run the VM at all" (no qemu, no kernel, no
initramfs, qemu refusing to start) is a SKIP outside CI and a FAIL when CI=true; a kernel
that starts but never reports a result is always a FAIL.

The serial console is kept in LOG_DIR/NAME.log (default ./vm-logs). Files a scenario sends
back (lib.sh: emit_file) are decoded into OUT_DIR (default LOG_DIR/NAME.files).
Environment: GPIOIRQ_VM_ACCEL (default tcg), GPIOIRQ_VM_QEMU (default qemu-system-x86_64 or
qemu-system-aarch64), GPIOIRQ_VM_CPU (arm64 only, default cortex-a53), GPIOIRQ_VM_SMP (2),
GPIOIRQ_VM_MEM (512).
"""
import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASS, FAIL, SKIP = 0, 1, 77


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def cannot_run(reason: str) -> int:
    if in_ci():
        print(f"FAIL (CI): cannot run the VM: {reason}")
        return FAIL
    print(f"SKIP: cannot run the VM: {reason}")
    return SKIP


# Per guest architecture: qemu binary and the Debian package that has it, machine arguments,
# serial console device.
ARCHES = {
    "x86_64": {"qemu": "qemu-system-x86_64", "package": "qemu-system-x86", "machine": [], "console": "ttyS0"},
    "arm64": {
        "qemu": "qemu-system-aarch64",
        "package": "qemu-system-arm",
        "machine": ["-M", "virt", "-cpu", os.environ.get("GPIOIRQ_VM_CPU", "cortex-a53")],
        "console": "ttyAMA0",
    },
}


def default_kernel(arch: str) -> str | None:
    try:
        res = subprocess.run([str(HERE / "build-kernel.sh"), "--arch", arch, "--print-path"],
                             capture_output=True, text=True)
    except OSError:
        return None
    path = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    return path if res.returncode == 0 and path else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--arch", choices=sorted(ARCHES), default="x86_64", help="guest architecture")
    ap.add_argument("--kernel")
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--timeout", type=float, default=120.0, help="hard limit for the whole VM run, seconds")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE exported to the scenario")
    ap.add_argument("--log-dir", default=os.environ.get("GPIOIRQ_VM_LOG_DIR", "vm-logs"))
    ap.add_argument("--out-dir")
    ap.add_argument("--append", default="", help="extra kernel command line")
    ap.add_argument("--quiet", action="store_true", help="do not echo the scenario's console output")
    args = ap.parse_args()

    guest = ARCHES[args.arch]
    qemu_name = os.environ.get("GPIOIRQ_VM_QEMU", guest["qemu"])
    qemu = shutil.which(qemu_name)
    if not qemu:
        return cannot_run(f"{qemu_name} not found (install {guest['package']})")
    kernel = args.kernel or default_kernel(args.arch)
    if not kernel or not Path(kernel).is_file():
        return cannot_run(f"no kernel {kernel or ''} (run tests/vm/build-kernel.sh --arch {args.arch})")
    if not Path(args.initrd).is_file():
        return cannot_run(f"no initramfs {args.initrd} (run tests/vm/make-initramfs.sh)")
    for kv in args.env:
        if "=" not in kv or any(c.isspace() for c in kv):
            print(f"bad --env {kv!r}: want KEY=VALUE without spaces")
            return FAIL

    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{args.scenario}.log"
    out_dir = Path(args.out_dir) if args.out_dir else log_dir / f"{args.scenario}.files"

    # no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can miss
    # its ticks and panic ("IO-APIC + timer doesn't work"), seen with 5 builds running.
    # (x86 only; arm64 has no such check and would pass the unknown option to /init.)
    timer_check = ["no_timer_check"] if args.arch == "x86_64" else []
    cmdline = " ".join(
        [f"console={guest['console']}", "quiet", "panic=-1"] + timer_check + [f"gpioirq.scenario={args.scenario}"]
        + [f"gpioirq.env.{kv}" for kv in args.env]
        + ([args.append] if args.append else [])
    )
    cmd = [
        qemu, *guest["machine"], "-accel", os.environ.get("GPIOIRQ_VM_ACCEL", "tcg"),
        "-smp", os.environ.get("GPIOIRQ_VM_SMP", "2"), "-m", os.environ.get("GPIOIRQ_VM_MEM", "512"),
        "-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
        "-kernel", kernel, "-initrd", args.initrd, "-append", cmdline,
    ]

    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        return cannot_run(f"{qemu}: {e}")

    lines: list[str] = []
    t_begin = None
    t_end = None
    result = None  # (status, detail)
    files: dict[str, list[str]] = {}
    receiving = None
    end_seen = threading.Event()

    def reader() -> None:
        nonlocal t_begin, t_end, result, receiving
        assert proc.stdout is not None
        with open(log_path, "w", encoding="utf-8", errors="replace") as log:
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\r", "")
                log.write(line + "\n")
                log.flush()
                lines.append(line)
                # Kernel messages can share a line with ours; the marker may not start it.
                if receiving is not None:
                    if "@@GPIOIRQ-FILE-END" in line:
                        receiving = None
                    else:
                        files[receiving].append(line.strip())
                    continue
                m = re.search(r"@@GPIOIRQ-(BEGIN|RESULT|END|FILE)\b ?(.*)$", line)
                if not m:
                    continue
                kind, rest = m.group(1), m.group(2)
                if kind == "BEGIN":
                    t_begin = time.monotonic()
                elif kind == "FILE":
                    receiving = rest.strip()
                    files[receiving] = []
                elif kind == "RESULT":
                    parts = rest.split(" ", 2)
                    if len(parts) >= 2:
                        result = (parts[1], parts[2] if len(parts) > 2 else "")
                elif kind == "END":
                    t_end = time.monotonic()
                    end_seen.set()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    timed_out = False
    try:
        proc.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        # After @@GPIOIRQ-END the VM reboots (= qemu exits) at once; if it hangs instead, the
        # result still counts.
        timed_out = not end_seen.is_set()
        proc.kill()
        proc.wait()
    th.join(timeout=5)
    elapsed = time.monotonic() - start

    for name, chunks in files.items():
        out_dir.mkdir(parents=True, exist_ok=True)
        safe = os.path.basename(name) or "unnamed"
        try:
            (out_dir / safe).write_bytes(base64.b64decode("".join(chunks)))
        except ValueError as e:
            print(f"warning: file {name} from the VM is not valid base64: {e}")

    if not args.quiet:
        inside = False
        in_file = False
        for line in lines:
            if "@@GPIOIRQ-BEGIN" in line:
                inside = True
            if "@@GPIOIRQ-FILE-END" in line:
                in_file = False
            elif "@@GPIOIRQ-FILE" in line:
                in_file = True
                print(f"  | {line.strip()} (base64, decoded into {out_dir})")
            elif inside and not in_file:
                print(f"  | {line}")
            if "@@GPIOIRQ-END" in line:
                break

    boot = f"{t_begin - start:.1f}" if t_begin else "?"
    run = f"{t_end - t_begin:.1f}" if t_begin and t_end else "?"
    timing = f"boot {boot} s, scenario {run} s, total {elapsed:.1f} s"

    def failed(reason: str) -> int:
        print(f"FAIL {args.scenario}: {reason} ({timing})")
        print(f"console log: {log_path.resolve()}")
        print("---- last 40 console lines ----")
        for line in lines[-40:]:
            print(line)
        return FAIL

    if result is None:
        if t_begin is None and not any(lines) and proc.returncode not in (0, None) and not timed_out:
            return cannot_run(f"qemu exited with {proc.returncode} before any output: {' '.join(cmd)}")
        if timed_out:
            return failed(f"timeout after {args.timeout:.0f} s")
        if any("Kernel panic" in line for line in lines):
            return failed("kernel panic")
        return failed("the VM ended without a result marker")
    status, detail = result
    if status == "PASS":
        print(f"PASS {args.scenario}: {detail} ({timing})")
        return PASS
    if status == "SKIP":
        # e.g. a binary the scenario needs is not built yet; CI wants every scenario run.
        if in_ci():
            print(f"FAIL (CI) {args.scenario}: skipped inside the VM: {detail} ({timing})")
            return FAIL
        print(f"SKIP {args.scenario}: {detail} ({timing})")
        return SKIP
    return failed(detail or "scenario failed")


if __name__ == "__main__":
    sys.exit(main())
