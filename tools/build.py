#!/usr/bin/env python3
"""Build a design for an ECP5 and report its resources, Fmax and peak GOPS.

Usage::

    python tools/build.py                                   # gemv, small defaults, LFE5U-25F
    python tools/build.py --design gemv --param lanes=16 --device LFE5U-85F --clock 150
    python tools/build.py --list-designs
    python tools/build.py --list-devices

The design is placed and routed out of context (inside the 4-pin register harness of
:mod:`attnkit.boards.harness`), and ``report.json``/``report.md`` are written to ``--out``
(default ``build/<design>-<device>-<clock>MHz-s<seed>``). Progress goes to stderr, the summary
to stdout.

Exit status: 0 built and timing met; 1 timing not met (0 with ``--allow-timing-fail``);
2 bad arguments; 3 the design does not fit the device; 4 a tool failed or is missing;
5 the design could not be constructed or elaborated.

The logic lives in :mod:`attnkit.boards.toolchain`; this file parses arguments and prints.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from attnkit.boards import designs, ecp5
from attnkit.boards.report import summary_lines
from attnkit.boards.toolchain import (SYNTH_MODES, DesignError, DeviceOverflowError,
                                      Progress, TimingError, ToolchainError, build_ooc)

REPO = Path(__file__).resolve().parents[1]

EXIT_OK, EXIT_TIMING, EXIT_USAGE, EXIT_OVERFLOW, EXIT_TOOL, EXIT_DESIGN = 0, 1, 2, 3, 4, 5

DEFAULT_DEVICE = "LFE5U-25F"
DEFAULT_CLOCK_MHZ = 125.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 ok, 1 timing not met, 2 bad arguments, 3 device overflow, "
               "4 tool failure, 5 design error")
    p.add_argument("--design", default="gemv", help="design name (see --list-designs)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="design parameter, repeatable (e.g. --param lanes=16)")
    p.add_argument("--device", default=DEFAULT_DEVICE,
                   help=f"ECP5 part (default {DEFAULT_DEVICE}; see --list-devices)")
    p.add_argument("--package", help="package, nextpnr spelling (default: CABGA381)")
    p.add_argument("--speed", type=int,
                   help="speed grade (default: the device's slowest: 6, or 8 for LFE5UM5G)")
    p.add_argument("--clock", type=float, default=DEFAULT_CLOCK_MHZ, metavar="MHZ",
                   help=f"target clock in MHz (default {DEFAULT_CLOCK_MHZ:g})")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default 1)")
    p.add_argument("--out", type=Path, help="build directory")
    p.add_argument("--synth-mode", choices=SYNTH_MODES, default="abc9",
                   help="Yosys LUT mapping: abc9 (default), abc9-dff, or classic abc")
    p.add_argument("--allow-timing-fail", action="store_true",
                   help="exit 0 even if the clock target is not met")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--list-designs", action="store_true", help="list designs and exit")
    p.add_argument("--list-devices", action="store_true", help="list devices and exit")
    return p


def list_designs(out=sys.stdout):
    for name in designs.names():
        d = designs.get(name)
        out.write(f"{name}: {d.description}\n")
        out.write("    defaults: " + " ".join(f"{k}={v}" for k, v in d.defaults.items()) + "\n")


def list_devices(out=sys.stdout):
    out.write(f"{'device':<14}{'LUT4':>7}{'FF':>7}{'MULT18':>8}{'EBR':>5}  packages; speeds\n")
    for dev in ecp5.DEVICES.values():
        out.write(f"{dev.name:<14}{dev.lut4:>7}{dev.ff:>7}{dev.mult18:>8}{dev.ebr:>5}  "
                  f"{', '.join(dev.packages)}; {', '.join(map(str, dev.speeds))}\n")
    out.write(f"source: {ecp5.DATASHEET}\n")


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.list_designs:
        list_designs()
        return EXIT_OK
    if args.list_devices:
        list_devices()
        return EXIT_OK

    def usage(message):
        sys.stderr.write(f"build.py: error: {message}\n")
        return EXIT_USAGE

    try:
        design = designs.get(args.design)
        params = designs.resolve_params(design, dict(designs.parse_param(p)
                                                     for p in args.param))
        dev = ecp5.device(args.device)
        package = dev.check_package(args.package or dev.default_package)
        speed = dev.check_speed(dev.default_speed if args.speed is None else args.speed)
        if not args.clock > 0:
            raise ValueError(f"--clock must be positive, not {args.clock:g}")
    except (ValueError, TypeError) as exc:
        return usage(str(exc))

    out = args.out or REPO / "build" / f"{design.name}-{dev.name}-{args.clock:g}MHz-s{args.seed}"
    progress = Progress(io.StringIO() if args.quiet else sys.stderr)
    status = EXIT_OK
    try:
        build_ooc(lambda: design.factory(params), out_dir=out, design=design.name,
                  params=params, device=dev.name, package=package, speed=speed,
                  clock_mhz=args.clock, seed=args.seed,
                  ops_per_cycle=design.ops_per_cycle(params) if design.ops_per_cycle else None,
                  synth_mode=args.synth_mode, allow_timing_fail=args.allow_timing_fail,
                  progress=progress)
    except TimingError as exc:
        status, message = EXIT_TIMING, f"timing not met: {exc}"
    except DeviceOverflowError as exc:
        status, message = EXIT_OVERFLOW, f"does not fit: {exc}"
    except DesignError as exc:
        status, message = EXIT_DESIGN, str(exc)
    except ToolchainError as exc:
        status, message = EXIT_TOOL, str(exc)

    report_path = Path(out) / "report.json"
    if report_path.exists():
        from attnkit.boards.report import load_report
        print("\n".join(summary_lines(load_report(report_path), report_path)))
    if status != EXIT_OK:
        sys.stderr.write(f"build.py: {message}\n")
        if status == EXIT_TIMING:
            sys.stderr.write("build.py: (--allow-timing-fail accepts the result anyway)\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
