#!/usr/bin/env python3
"""Build a design for an ECP5 and report its resources, Fmax and peak GOPS.

Usage::

    python tools/build.py                                   # gemv, small defaults, LFE5U-25F
    python tools/build.py --design gemv --param lanes=16 --device LFE5U-85F --clock 150
    python tools/build.py --board ulx3s-85f --design accelerator --param lanes=128 --clock 50
    python tools/build.py --board ulx3s-25f --design accelerator --seeds 1,2,3
    python tools/build.py --board ulx3s-25f --design gemv --ooc   # core alone, board's part
    python tools/build.py --list-designs
    python tools/build.py --list-devices
    python tools/build.py --list-boards

Without ``--board`` (or with ``--ooc``) the design is placed and routed out of context
(inside the 4-pin register harness of :mod:`attnkit.boards.harness`). With ``--board`` the
design's board top level (PLL from the board clock to ``--clock``, UART host bridge, LEDs) is
built for that board, down to a bitstream (``top.bit``, its sha256 in the report);
``--clock`` defaults to the board's own clock (no PLL). ``--program`` then loads it with
openFPGALoader. ``report.json``/``report.md`` are written to ``--out`` (default
``build/<design>-<board or device>-<clock>MHz-s<seed>``; with ``--seeds`` one subfolder
``seed<N>`` per seed). Progress goes to stderr, the summary to stdout.

Exit status: 0 built and timing met; 1 timing not met (0 with ``--allow-timing-fail``);
2 bad arguments (including a clock the board's PLL cannot make); 3 the design does not fit
the device; 4 a tool failed or is missing (also: ``--program`` without openFPGALoader);
5 the design could not be constructed or elaborated.

The logic lives in :mod:`attnkit.boards.toolchain`; this file parses arguments and prints.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

from attnkit.boards import designs, ecp5, registry
from attnkit.boards.pll import PLLError
from attnkit.boards.report import summary_lines
from attnkit.boards.toolchain import (PLACERS, SYNTH_MODES, DesignError, DeviceOverflowError,
                                      Progress, TimingError, ToolchainError, build_board,
                                      build_ooc)

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
    p.add_argument("--device", default=None,
                   help=f"ECP5 part (default {DEFAULT_DEVICE}; see --list-devices)")
    p.add_argument("--package", help="package, nextpnr spelling (default: CABGA381)")
    p.add_argument("--speed", type=int,
                   help="speed grade (default: the device's slowest: 6, or 8 for LFE5UM5G)")
    p.add_argument("--clock", type=float, default=None, metavar="MHZ",
                   help=f"target clock in MHz (default {DEFAULT_CLOCK_MHZ:g}; with --board: "
                        f"the board clock)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default 1)")
    p.add_argument("--seeds", metavar="N,N,...",
                   help="several placer seeds: build each, report each and the best")
    p.add_argument("--board", help="build for this board (see --list-boards): its device, "
                                   "pins and clock, down to a bitstream")
    p.add_argument("--ooc", action="store_true",
                   help="with --board: build the core out of context on the board's device")
    p.add_argument("--program", action="store_true",
                   help="load the bitstream with openFPGALoader after a board build")
    p.add_argument("--out", type=Path, help="build directory")
    p.add_argument("--synth-mode", choices=SYNTH_MODES, default="abc9",
                   help="Yosys LUT mapping: abc9 (default), abc9-dff, or classic abc")
    p.add_argument("--placer", choices=sorted(PLACERS), default="heap",
                   help="nextpnr placer settings: heap (nextpnr's defaults) or heap-timing "
                        "(timing-critical nets weighted harder)")
    p.add_argument("--reset-fanout", type=int, metavar="N",
                   help="out of context: replicate the harness's reset flip-flop so that no "
                        "copy drives more than N loads, grouped by unit (boards/replicate.py)")
    p.add_argument("--allow-timing-fail", action="store_true",
                   help="exit 0 even if the clock target is not met")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--list-designs", action="store_true", help="list designs and exit")
    p.add_argument("--list-devices", action="store_true", help="list devices and exit")
    p.add_argument("--list-boards", action="store_true", help="list boards and exit")
    return p


def list_boards(out=sys.stdout):
    out.write(f"{'board':<18}{'device':<14}{'package':<11}{'speed':>5}{'clock':>8}  "
              f"UART; memory\n")
    for prof in registry.BOARDS.values():
        m = prof.memory
        mem = "none" if m.type == "none" else \
            f"{m.size_bytes >> 20} MB {m.width_bits}-bit {m.type}, {m.peak_bandwidth / 1e6:g} MB/s"
        out.write(f"{prof.name:<18}{prof.device_name:<14}{prof.nextpnr_package:<11}"
                  f"{prof.speed:>5}{prof.clock_mhz:>6g}MHz  {prof.uart.bridge}; {mem}\n")


def program(board_name, bitstream) -> tuple:
    """Load ``bitstream`` with openFPGALoader: ``(exit status, message)``."""
    tool = shutil.which("openFPGALoader")
    prof = registry.board(board_name)
    if tool is None:
        return EXIT_TOOL, (f"--program: openFPGALoader is not installed (not on PATH); install "
                           f"it (e.g. `apt install openfpgaloader`) and run: openFPGALoader "
                           f"{' '.join(prof.programmer)} {bitstream}")
    done = subprocess.run([tool, *prof.programmer, str(bitstream)])
    if done.returncode != 0:
        return EXIT_TOOL, f"--program: openFPGALoader exited with {done.returncode}"
    return EXIT_OK, f"programmed {prof.name} with {bitstream}"


def _seeds(args):
    if args.seeds is None:
        return [args.seed]
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, not {args.seeds!r}") \
            from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must list distinct integers, not {args.seeds!r}")
    return seeds


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
    if args.list_boards:
        list_boards()
        return EXIT_OK

    def usage(message):
        sys.stderr.write(f"build.py: error: {message}\n")
        return EXIT_USAGE

    prof = None
    try:
        design = designs.get(args.design)
        params = designs.resolve_params(design, dict(designs.parse_param(p)
                                                     for p in args.param))
        if args.board is not None:
            prof = registry.board(args.board)
            if args.device or args.package or args.speed is not None:
                raise ValueError("--board sets the device, package and speed grade; do not "
                                 "combine it with --device/--package/--speed")
            dev, package, speed = prof.device, prof.nextpnr_package, prof.speed
        else:
            if args.ooc or args.program:
                raise ValueError(f"{'--ooc' if args.ooc else '--program'} needs --board")
            dev = ecp5.device(args.device or DEFAULT_DEVICE)
            package = dev.check_package(args.package or dev.default_package)
            speed = dev.check_speed(dev.default_speed if args.speed is None else args.speed)
        board_mode = prof is not None and not args.ooc
        plan = params.get("floorplan")
        if plan is not None and ecp5.device(plan).die != dev.die:
            raise ValueError(f"floorplan={plan} names sites of another die than the build's "
                             f"device {dev.name}")
        if board_mode and design.board_top is None:
            raise ValueError(f"design {design.name!r} has no board top level; use --design "
                             f"{' or '.join(d for d in designs.names() if designs.get(d).board_top)}"
                             f", or --ooc to build the core alone on {prof.name}'s device")
        if args.reset_fanout is not None and (board_mode or args.reset_fanout < 1):
            raise ValueError("--reset-fanout is for out-of-context builds and must be >= 1")
        if args.program and not board_mode:
            raise ValueError("--program needs a board build (--board without --ooc)")
        clock = args.clock
        if clock is None:
            clock = prof.clock_mhz if board_mode else DEFAULT_CLOCK_MHZ
        if not clock > 0:
            raise ValueError(f"--clock must be positive, not {clock:g}")
        seeds = _seeds(args)
        if board_mode:
            # construct the top once: checks the clock (PLL limits) and baud rate up front
            try:
                top = design.board_top(prof.name, args.clock, params)
            except PLLError as exc:
                raise ValueError(f"--clock {clock:g} MHz cannot be made on {prof.name} from "
                                 f"its {prof.clock_mhz:g} MHz board clock: {exc}") from None
    except (ValueError, TypeError) as exc:
        return usage(str(exc))

    target = prof.name if prof is not None else dev.name
    out_root = args.out or REPO / "build" / f"{design.name}-{target}-{clock:g}MHz" \
        f"{'-ooc' if prof is not None and args.ooc else ''}" \
        f"{'' if args.seeds else f'-s{seeds[0]}'}"
    ops = design.ops_per_cycle(params) if design.ops_per_cycle else None
    results = []                 # (seed, status, report or None, out dir)
    for i, seed in enumerate(seeds):
        out = Path(out_root) / f"seed{seed}" if args.seeds else Path(out_root)
        progress = Progress(io.StringIO() if args.quiet else sys.stderr)
        status, message = EXIT_OK, None
        try:
            if board_mode:
                build_board(top if i == 0 else
                            (lambda: design.board_top(prof.name, args.clock, params)),
                            out_dir=out, board=prof.name, design=design.name, params=params,
                            clock_mhz=clock, seed=seed, ops_per_cycle=ops,
                            synth_mode=args.synth_mode, placer=args.placer,
                            allow_timing_fail=args.allow_timing_fail, progress=progress)
            else:
                build_ooc(lambda: design.factory(params), out_dir=out, design=design.name,
                          params=params, device=dev.name, package=package, speed=speed,
                          clock_mhz=clock, seed=seed, ops_per_cycle=ops,
                          synth_mode=args.synth_mode, allow_timing_fail=args.allow_timing_fail,
                          progress=progress, board=prof.name if prof is not None else None,
                          placer=args.placer, reset_fanout=args.reset_fanout,
                          sites=design.sites(params) if design.sites else None)
        except TimingError as exc:
            status, message = EXIT_TIMING, f"timing not met: {exc}"
        except DeviceOverflowError as exc:
            status, message = EXIT_OVERFLOW, f"does not fit: {exc}"
        except DesignError as exc:
            status, message = EXIT_DESIGN, str(exc)
        except ToolchainError as exc:
            status, message = EXIT_TOOL, str(exc)

        report_path = out / "report.json"
        rep = None
        if report_path.exists():
            from attnkit.boards.report import load_report
            rep = load_report(report_path)
            print("\n".join(summary_lines(rep, report_path)))
        if status != EXIT_OK:
            sys.stderr.write(f"build.py: {message}\n")
            if status == EXIT_TIMING:
                sys.stderr.write("build.py: (--allow-timing-fail accepts the result anyway)\n")
        results.append((seed, status, rep, out))
        if status in (EXIT_OVERFLOW, EXIT_DESIGN, EXIT_TOOL):
            break                # another seed cannot help

    if args.seeds:
        print(f"seeds ({len(results)} built):")
        best = None
        for seed, status, rep, out in results:
            mhz = (rep or {}).get("clocks", {}).get("sync", {}).get("achieved_mhz")
            print(f"  seed {seed}: {'-' if mhz is None else f'{mhz:.1f} MHz'} "
                  f"{(rep or {}).get('status', 'no report')}  {out}")
            if mhz is not None and (best is None or mhz > best[1]):
                best = (seed, mhz, out, status)
        if best:
            print(f"  best: seed {best[0]}, {best[1]:.1f} MHz, {best[2]}")
        ok = [r for r in results if r[1] == EXIT_OK]
        status = EXIT_OK if ok else results[-1][1]
        chosen = best[2] if best else None
    else:
        status = results[0][1]
        chosen = results[0][3]

    if args.program and status == EXIT_OK and chosen is not None:
        status, message = program(prof.name, Path(chosen) / "top.bit")
        (sys.stdout if status == EXIT_OK else sys.stderr).write(f"build.py: {message}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
