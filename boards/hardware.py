"""Hardware profiles for the roofline: GPUs and edge SoCs, our FPGA builds, measured
and user-defined devices; and the per-layer roofline analysis of an LLM on them.

A :class:`HardwareProfile` is a main-memory bandwidth (bytes/s), peak throughputs by
precision (OPs/s, a multiply-add = 2 OPs, dense, no structured sparsity) and a
source string for every figure. FPGA profiles also carry an on-chip (block RAM)
bandwidth as a second roof.

Peak selection (:meth:`HardwareProfile.peak_for`) follows LLM-Viewer and the talk's
table: the INT8 peak when weight, activation and KV bit widths are all <= 8, else
the FP16 peak. Profiles with a single figure (FPGA designs, measured devices) use it
for every precision.

The roofline arithmetic itself is :mod:`attnkit.golden.roofline`; the OPs and bytes
per layer are :mod:`attnkit.golden.workload`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from attnkit.golden import roofline as _rl
from attnkit.golden.llm_models import ModelConfig
from attnkit.golden.workload import STAGES, Workload, kv_cache_bytes, layer_costs, \
    weight_bytes

__all__ = [
    "HardwareProfile", "HARDWARE", "hardware_names", "get_hardware",
    "fpga_profile_from_report", "bram_bandwidth", "load_profile_file", "resolve_hardware",
    "analyze", "BUILD_REPORT_SCHEMA", "MEASURED_PROFILE_SCHEMA", "USER_PROFILE_SCHEMA",
]

BUILD_REPORT_SCHEMA = "attnkit.build_report/1"
MEASURED_PROFILE_SCHEMA = "attnkit.measured_profile/1"
USER_PROFILE_SCHEMA = "attnkit.hardware/1"
_KINDS = ("gpu", "edge", "fpga", "measured", "user")


@dataclass(frozen=True)
class HardwareProfile:
    """One device on the roofline.

    Parameters
    ----------
    name : str
        Command-line name (``"nvidia-a6000"``) or a descriptive label.
    kind : {"gpu", "edge", "fpga", "measured", "user"}
    bandwidth : float
        Main-memory bandwidth in bytes/s (DRAM/HBM; for an FPGA without a DRAM
        figure, the block-RAM bandwidth).
    peak_ops : dict of str to float
        Peak OPs/s by precision: ``"fp16"``/``"int8"`` for GPUs, a single entry for
        FPGA designs (``"design"``) and measured devices (``"measured"``).
    sources : dict of str to str
        For each figure (``"bandwidth"``, each peak key, each extra memory level) the
        document it comes from, or how it was derived.
    memory_levels : dict of str to float
        Extra bandwidth roofs by name (``{"bram": ...}`` for an FPGA), bytes/s.
    notes : str
        Free text shown in listings (e.g. "hypothetical").

    Raises
    ------
    TypeError, ValueError
        On a bad kind, non-positive or non-finite figure, or a figure without source.
    """

    name: str
    kind: str
    bandwidth: float
    peak_ops: dict
    sources: dict
    memory_levels: dict = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, not {self.name!r}")
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, not {self.kind!r}")
        _check_rate("bandwidth", self.bandwidth)
        if not isinstance(self.peak_ops, dict) or not self.peak_ops:
            raise TypeError(f"peak_ops must be a non-empty dict, not {self.peak_ops!r}")
        for k, v in self.peak_ops.items():
            _check_rate(f"peak_ops[{k!r}]", v)
        for k, v in self.memory_levels.items():
            _check_rate(f"memory_levels[{k!r}]", v)
        for key in ("bandwidth", *self.peak_ops, *self.memory_levels):
            if not isinstance(self.sources.get(key), str) or not self.sources[key]:
                raise ValueError(f"sources[{key!r}] missing for hardware {self.name!r}: "
                                 "every figure needs a source")

    def peak_for(self, w_bits: int, a_bits: int, kv_bits: int) -> tuple[str, float]:
        """Peak chosen by precision: ``("int8", ...)`` when all widths <= 8 and an INT8
        figure exists, else ``("fp16", ...)``; single-figure profiles return their one."""
        if len(self.peak_ops) == 1:
            (k, v), = self.peak_ops.items()
            return k, v
        key = "int8" if max(w_bits, a_bits, kv_bits) <= 8 and "int8" in self.peak_ops \
            else "fp16"
        if key not in self.peak_ops:
            raise ValueError(f"hardware {self.name!r} has no {key!r} peak "
                             f"(has {sorted(self.peak_ops)})")
        return key, self.peak_ops[key]

    def ridge_point(self, precision: str | None = None, level: str | None = None) -> float:
        """Ridge point (OPs/byte) for a precision key and memory level (default main)."""
        peak = self.peak_ops[precision] if precision else next(iter(self.peak_ops.values()))
        return float(_rl.ridge_point(peak, self.level_bandwidth(level)))

    def level_bandwidth(self, level: str | None) -> float:
        """Bandwidth of memory ``level`` (``None``/``"main"``: :attr:`bandwidth`)."""
        if level in (None, "main"):
            return self.bandwidth
        try:
            return self.memory_levels[level]
        except KeyError:
            raise ValueError(f"hardware {self.name!r} has no memory level {level!r} "
                             f"(has main, {', '.join(self.memory_levels) or 'no others'})"
                             ) from None

    def as_dict(self) -> dict:
        return {"schema": USER_PROFILE_SCHEMA, "name": self.name, "kind": self.kind,
                "bandwidth_bytes_per_s": self.bandwidth, "peak_ops_per_s": dict(self.peak_ops),
                "memory_levels": dict(self.memory_levels), "sources": dict(self.sources),
                "notes": self.notes}


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, not {value!r}")


# --------------------------------------------------------------------------------------
# Datasheet profiles. "dense" = without 2:4 structured sparsity (NVIDIA's headline
# tensor figures are sparse; dense is half).

_A6000_DS = "NVIDIA RTX A6000 datasheet (nvidia-rtx-a6000-datasheet.pdf)"
_GA102_WP = "NVIDIA Ampere GA102 GPU Architecture whitepaper v2, Table 'RTX A6000'"
_A100_DS = "NVIDIA A100 Tensor Core GPU datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4)"
_H100_DS = "NVIDIA H100 Tensor Core GPU datasheet (h100-datasheet-2430615)"
_H200_DS = "NVIDIA H200 Tensor Core GPU datasheet (h200-datasheet-nvidia)"
_V100_DS = "NVIDIA Tesla V100 datasheet (tesla-v100-datasheet-letter-fnl-web) / Volta whitepaper"
_L40_DS = "NVIDIA L40 GPU datasheet (nvidia-l40-datasheet)"
_ADA_WP = "NVIDIA Ada Lovelace GPU Architecture whitepaper v2.1, Appendix A 'GeForce RTX 4090'"
_ORIN = ("NVIDIA Jetson AGX Orin Series Technical Brief v1.2 and Jetson AGX Orin 64GB "
         "module datasheet")
_SD8G3 = "Qualcomm Snapdragon 8 Gen 3 Mobile Platform product brief"


def _gpu(name, bw, fp16, int8, src_bw, src_fp16, src_int8, kind="gpu", notes=""):
    return HardwareProfile(name, kind, bw, {"fp16": fp16, "int8": int8},
                           {"bandwidth": src_bw, "fp16": src_fp16, "int8": src_int8},
                           notes=notes)


HARDWARE: dict[str, HardwareProfile] = {h.name: h for h in (
    _gpu("nvidia-a6000", 768e9, 154.8e12, 309.7e12,
         f"{_A6000_DS}: 768 GB/s GDDR6",
         f"{_GA102_WP}: peak FP16 tensor TFLOPS with FP32 accumulate 154.8 dense "
         "(309.7 sparse); the talk's table shows 155T",
         f"{_GA102_WP}: peak INT8 tensor TOPS 309.7 dense (619.4 sparse)"),
    _gpu("nvidia-a100-40g", 1555e9, 312e12, 624e12,
         f"{_A100_DS}: A100 40GB SXM 1,555 GB/s HBM2",
         f"{_A100_DS}: FP16 tensor core 312 TFLOPS dense (624 sparse)",
         f"{_A100_DS}: INT8 tensor core 624 TOPS dense (1,248 sparse)"),
    _gpu("nvidia-a100-80g", 2039e9, 312e12, 624e12,
         f"{_A100_DS}: A100 80GB SXM 2,039 GB/s HBM2e (PCIe variant: 1,935 GB/s)",
         f"{_A100_DS}: FP16 tensor core 312 TFLOPS dense (624 sparse)",
         f"{_A100_DS}: INT8 tensor core 624 TOPS dense (1,248 sparse)"),
    _gpu("nvidia-h100-sxm", 3.35e12, 989.5e12, 1979e12,
         f"{_H100_DS}: H100 SXM 3.35 TB/s HBM3 (LLM-Viewer uses 3,072 GB/s)",
         f"{_H100_DS}: H100 SXM FP16 tensor core 1,979 TFLOPS with sparsity -> 989.5 dense",
         f"{_H100_DS}: H100 SXM INT8 tensor core 3,958 TOPS with sparsity -> 1,979 dense"),
    _gpu("nvidia-h100-pcie", 2.0e12, 756.5e12, 1513e12,
         f"{_H100_DS}: H100 PCIe 2 TB/s HBM2e (LLM-Viewer uses 2,048 GB/s)",
         f"{_H100_DS}: H100 PCIe FP16 tensor core 1,513 TFLOPS with sparsity -> 756.5 dense",
         f"{_H100_DS}: H100 PCIe INT8 tensor core 3,026 TOPS with sparsity -> 1,513 dense"),
    _gpu("nvidia-h200", 4.8e12, 989.5e12, 1979e12,
         f"{_H200_DS}: H200 SXM 4.8 TB/s HBM3e",
         f"{_H200_DS}: H200 SXM FP16 tensor core 1,979 TFLOPS with sparsity -> 989.5 dense",
         f"{_H200_DS}: H200 SXM INT8 tensor core 3,958 TOPS with sparsity -> 1,979 dense"),
    _gpu("nvidia-v100", 900e9, 125e12, 62.8e12,
         f"{_V100_DS}: V100 SXM2 900 GB/s HBM2",
         f"{_V100_DS}: V100 SXM2 tensor performance 125 TFLOPS (FP16 in, FP32 accumulate)",
         "derived: Volta has no INT8 tensor cores; DP4A gives 4 x the 15.7 TFLOPS FP32 "
         "rate = 62.8 TOPS (so INT8 is SLOWER than FP16 on V100; LLM-Viewer uses 62)"),
    _gpu("nvidia-l40", 864e9, 181.05e12, 362e12,
         f"{_L40_DS}: 864 GB/s GDDR6",
         f"{_L40_DS}: FP16 tensor core 181.05 TFLOPS dense (362.1 sparse)",
         f"{_L40_DS}: INT8 tensor core 362 TOPS dense (724 sparse)"),
    _gpu("nvidia-rtx-4090", 1008e9, 165.2e12, 660.6e12,
         f"{_ADA_WP}: 1,008 GB/s GDDR6X",
         f"{_ADA_WP}: peak FP16 tensor TFLOPS with FP32 accumulate 165.2 dense "
         "(330.3 with FP16 accumulate)",
         f"{_ADA_WP}: peak INT8 tensor TOPS 660.6 dense (1,321.2 sparse)"),
    _gpu("nvidia-jetson-agx-orin", 204.8e9, 42.5e12, 85e12,
         f"{_ORIN}: 64GB module, 256-bit LPDDR5 at 204.8 GB/s",
         "derived: half the GPU's dense INT8 rate (Ampere tensor cores run FP16 at half the "
         "INT8 rate) = 42.5 TFLOPS",
         f"{_ORIN}: GPU 170 INT8 TOPS with sparsity -> 85 dense (the module's 275 TOPS "
         "adds the two DLAs)", kind="edge"),
    _gpu("snapdragon-8-gen-3", 76.8e9, 22.5e12, 45e12,
         f"{_SD8G3}: LPDDR5X up to 4800 MHz; with the 64-bit (4 x 16-bit) bus: "
         "4800e6 x 2 transfers x 8 bytes = 76.8 GB/s (derived)",
         "ESTIMATE: half the INT8 estimate (Qualcomm publishes no FP16 figure)",
         "ESTIMATE: Qualcomm publishes no TOPS figure for the 8 Gen 3 Hexagon NPU; "
         "45 TOPS INT8 is the figure quoted by third parties (e.g. runlocalai.co)",
         kind="edge", notes="compute peaks are estimates; decode is memory bound anyway"),
)}


def hardware_names() -> list[str]:
    """Names of the built-in datasheet profiles."""
    return list(HARDWARE)


def get_hardware(name: str) -> HardwareProfile:
    """Built-in datasheet profile by name; ``ValueError`` listing the names if unknown."""
    try:
        return HARDWARE[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown hardware {name!r}; known: {', '.join(HARDWARE)}, "
                         "an FPGA board name with a build/*/report.json, or a .json/.toml "
                         "profile path") from None


# --------------------------------------------------------------------------------------
# FPGA profiles from build reports.

#: Bits per cycle one ECP5 DP16KD block moves, by mode. True dual port: two ports of up
#: to 18 bits each. Pseudo dual port (PDPW16KD): one 36-bit read and one 36-bit write.
DP16KD_BITS_PER_CYCLE = {"tdp": 36, "pdp": 72}


def bram_bandwidth(blocks: int, fmax_hz: float, mode: str = "tdp") -> float:
    """On-chip block-RAM bandwidth in bytes/s: ``blocks x bits/cycle x fmax / 8``.

    ``mode="tdp"`` (default): true dual port, 2 ports x 18 bits = 36 bits per block per
    cycle. ``mode="pdp"``: pseudo dual port, 36-bit read + 36-bit write = 72 bits.
    """
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks <= 0:
        raise ValueError(f"blocks must be a positive int, not {blocks!r}")
    _check_rate("fmax_hz", fmax_hz)
    if mode not in DP16KD_BITS_PER_CYCLE:
        raise ValueError(f"mode must be one of {tuple(DP16KD_BITS_PER_CYCLE)}, not {mode!r}")
    return blocks * DP16KD_BITS_PER_CYCLE[mode] * fmax_hz / 8


def _board_dram(board: str):
    """(bandwidth, source) of a board's DRAM from :mod:`attnkit.boards.registry`, or None.

    Uses ``registry.board(name).memory`` (``peak_bandwidth`` bytes/s, ``type``,
    ``width_bits``, ``clock_mhz``, ``source``); boards without DRAM give None.
    """
    try:
        from attnkit.boards import registry
    except ImportError:
        return None
    lookup = getattr(registry, "board", None) or getattr(registry, "board_profile", None)
    try:
        mem = lookup(board).memory
    except (ValueError, TypeError, AttributeError):
        return None
    bw = getattr(mem, "peak_bandwidth_bytes_per_s", None) or getattr(mem, "peak_bandwidth", 0)
    if not bw:
        return None
    desc = (f"{getattr(mem, 'type', '?')} {getattr(mem, 'width_bits', '?')}-bit at "
            f"{getattr(mem, 'clock_mhz', '?')} MHz x {getattr(mem, 'transfers_per_clock', 1)} "
            f"transfers/clock (attnkit.boards.registry {board}: {getattr(mem, 'source', '?')})")
    return float(bw), desc


def fpga_profile_from_report(report, *, dram_bandwidth: float | None = None,
                             dram_source: str | None = None, bram_mode: str = "tdp",
                             bram_blocks: str = "used", name: str | None = None,
                             notes: str = "") -> HardwareProfile:
    """Roofline profile of one of our FPGA builds.

    Parameters
    ----------
    report : dict or path
        A ``report.json`` of schema ``attnkit.build_report/1`` (as written by
        ``boards/toolchain.py``). Uses ``ops_per_cycle``, the achieved Fmax of clock
        ``sync`` (else the first clock), ``utilization["DP16KD"]`` and ``board``.
    dram_bandwidth : float, optional
        Board DRAM bandwidth in bytes/s. Default: the board's peak from
        ``attnkit.boards.registry.board(report["board"]).memory``; if neither is
        available the profile has only the block-RAM roof (its main bandwidth).
    dram_source : str, optional
        Source of ``dram_bandwidth`` (required when it is given).
    bram_mode : {"tdp", "pdp"}
        DP16KD port mode for the on-chip roof (see :func:`bram_bandwidth`).
    bram_blocks : {"used", "available"}
        Count the design's used DP16KD blocks (its real on-chip roof) or the device's.

    Returns
    -------
    HardwareProfile
        ``kind="fpga"``, ``peak_ops={"design": ops_per_cycle x Fmax}``, main bandwidth
        = DRAM (or BRAM when no DRAM figure), ``memory_levels={"bram": ..., "dram": ...}``.

    Raises
    ------
    ValueError
        On a wrong schema, missing field, zero Fmax or ops_per_cycle.
    """
    path = None
    if isinstance(report, (str, os.PathLike)):
        path = Path(report)
        report = json.loads(path.read_text())
    if not isinstance(report, dict):
        raise TypeError(f"report must be a dict or a path, not {report!r}")
    if report.get("schema") != BUILD_REPORT_SCHEMA:
        raise ValueError(f"report schema must be {BUILD_REPORT_SCHEMA!r}, "
                         f"not {report.get('schema')!r}")
    clocks = report.get("clocks") or {}
    clock = clocks.get("sync") or next(iter(clocks.values()), None)
    if not clock or not clock.get("achieved_mhz"):
        raise ValueError(f"report has no achieved Fmax in clocks: {clocks!r}")
    fmax_hz = float(clock["achieved_mhz"]) * 1e6
    opc = report.get("ops_per_cycle")
    if isinstance(opc, bool) or not isinstance(opc, (int, float)) or opc <= 0:
        raise ValueError(f"report ops_per_cycle must be a positive number, not {opc!r}")
    if bram_blocks not in ("used", "available"):
        raise ValueError(f"bram_blocks must be 'used' or 'available', not {bram_blocks!r}")

    design = report.get("design", "design")
    board = report.get("board")
    device = (report.get("device") or {}).get("name", "?")
    where = str(path) if path else "build report"
    label = name or f"{design}@{board or device} ({opc} OPs/cycle, {clock['achieved_mhz']:.1f} MHz)"
    peak = opc * fmax_hz
    sources = {"design": f"{where}: ops_per_cycle {opc} x achieved Fmax "
                         f"{clock['achieved_mhz']} MHz (nextpnr)"
                         + ("" if clock.get("met", True) else " [TIMING NOT MET]")}
    levels = {}
    ebr = (report.get("utilization") or {}).get("DP16KD") or {}
    blocks = ebr.get(bram_blocks)
    if isinstance(blocks, int) and blocks > 0:
        levels["bram"] = bram_bandwidth(blocks, fmax_hz, bram_mode)
        sources["bram"] = (f"{blocks} {bram_blocks} DP16KD x {DP16KD_BITS_PER_CYCLE[bram_mode]} "
                           f"bits/cycle ({bram_mode.upper()}) x Fmax")
    if dram_bandwidth is None and board:
        found = _board_dram(board)
        if found:
            dram_bandwidth, dram_source = found
    if dram_bandwidth is not None:
        _check_rate("dram_bandwidth", dram_bandwidth)
        if not dram_source:
            raise ValueError("dram_source is required with dram_bandwidth (every figure "
                             "needs a source)")
        levels["dram"] = float(dram_bandwidth)
        sources["dram"] = dram_source
    if not levels:
        raise ValueError(f"{where}: no memory roof: no DP16KD used and no DRAM bandwidth "
                         "(pass dram_bandwidth=... and dram_source=...)")
    main = "dram" if "dram" in levels else "bram"
    sources["bandwidth"] = f"{main}: {sources[main]}"
    return HardwareProfile(label, "fpga", levels[main], {"design": peak}, sources,
                           memory_levels=levels, notes=notes)


# --------------------------------------------------------------------------------------
# Profile files: user-defined hardware (JSON/TOML) and measured profiles (gpu_baseline).

def _profile_from_user(data: dict, where: str) -> HardwareProfile:
    try:
        name, bw, peaks = data["name"], data["bandwidth_bytes_per_s"], data["peak_ops_per_s"]
    except KeyError as e:
        raise ValueError(f"{where}: user hardware profile lacks key {e.args[0]!r} "
                         "(needs name, bandwidth_bytes_per_s, peak_ops_per_s, sources)"
                         ) from None
    if isinstance(peaks, (int, float)):
        peaks = {"fp16": peaks}
    return HardwareProfile(name, data.get("kind", "user"), bw, dict(peaks),
                           dict(data.get("sources", {})),
                           memory_levels=dict(data.get("memory_levels", {})),
                           notes=data.get("notes", ""))


def _profile_from_measured(data: dict, where: str) -> HardwareProfile:
    s = data.get("summary") or {}
    bw, peak = s.get("bandwidth_bytes_per_s"), s.get("peak_ops_per_s")
    if not bw or not peak:
        raise ValueError(f"{where}: measured profile summary needs bandwidth_bytes_per_s "
                         f"and peak_ops_per_s, got {s!r}")
    dev = data.get("device") or {}
    label = f"measured {dev.get('name', dev.get('type', '?'))} ({s.get('dtype', '?')})"
    return HardwareProfile(
        label, "measured", float(bw), {"measured": float(peak)},
        {"bandwidth": f"{where}: best achieved bandwidth, kernel {s.get('bandwidth_kernel')}",
         "measured": f"{where}: best achieved OPs/s, kernel {s.get('peak_kernel')}"},
        notes=f"measured with torch {data.get('torch_version', '?')} on {dev.get('type', '?')}")


def load_profile_file(path) -> HardwareProfile:
    """Load a hardware profile from a file, by its content.

    ``.toml`` files and ``.json`` files without a ``schema`` (or with
    ``attnkit.hardware/1``) are user-defined hardware: keys ``name``,
    ``bandwidth_bytes_per_s``, ``peak_ops_per_s`` (number or ``{"fp16": ..,
    "int8": ..}``), ``sources`` (one per figure), optional ``memory_levels``, ``kind``,
    ``notes``. ``attnkit.measured_profile/1`` is a ``tools/gpu_baseline.py`` output;
    ``attnkit.build_report/1`` an FPGA build report (see :func:`fpga_profile_from_report`).
    """
    path = Path(path)
    if path.suffix == ".toml":
        import tomllib
        data = tomllib.loads(path.read_text())
    else:
        data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a hardware profile must be a JSON/TOML object")
    schema = data.get("schema", USER_PROFILE_SCHEMA)
    if schema == USER_PROFILE_SCHEMA:
        return _profile_from_user(data, str(path))
    if schema == MEASURED_PROFILE_SCHEMA:
        return _profile_from_measured(data, str(path))
    if schema == BUILD_REPORT_SCHEMA:
        return fpga_profile_from_report(path)
    raise ValueError(f"{path}: unknown profile schema {schema!r}")


def resolve_hardware(spec: str, build_dir="build", **fpga_kwargs) -> HardwareProfile:
    """Hardware by command-line spec: a datasheet name, a profile/report file path, or an
    FPGA board name (the newest ``build/*/report.json`` whose ``board`` matches)."""
    if spec in HARDWARE:
        return HARDWARE[spec]
    p = Path(spec)
    if p.suffix in (".json", ".toml"):
        if not p.exists():
            raise ValueError(f"hardware profile file {spec!r} does not exist")
        data = json.loads(p.read_text()) if p.suffix == ".json" else None
        if data and data.get("schema") == BUILD_REPORT_SCHEMA:
            return fpga_profile_from_report(p, **fpga_kwargs)
        return load_profile_file(p)
    reports = []
    for r in Path(build_dir).glob("*/report.json"):
        try:
            data = json.loads(r.read_text())
        except (OSError, ValueError):
            continue
        if data.get("schema") == BUILD_REPORT_SCHEMA and data.get("board") == spec:
            reports.append(r)
    if reports:
        newest = max(reports, key=lambda r: r.stat().st_mtime)
        return fpga_profile_from_report(newest, **fpga_kwargs)
    try:
        from attnkit.boards.registry import BOARDS
    except ImportError:
        BOARDS = {}
    if spec in BOARDS:
        raise ValueError(f"no build report for board {spec!r} under {build_dir}/*/report.json;"
                         f" build one (python tools/build.py --board {spec} ...) or pass a "
                         "report.json path")
    get_hardware(spec)      # raises the ValueError listing the known names
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------
# Per-layer analysis.

def analyze(model: ModelConfig, workload: Workload, hardware: HardwareProfile,
            stages=STAGES, memory_level: str | None = None) -> dict:
    """Per-layer roofline of ``model`` run as ``workload`` on ``hardware``.

    Returns
    -------
    dict
        ``{"model", "hardware", "workload", "peak": {"precision", "ops_per_s"},
        "bandwidth_bytes_per_s", "ridge_point", "rows": [...], "totals": {stage: ...}}``.
        Each row: ``stage, layer, ops, memory_access`` (exact ints, one instance),
        ``arithmetic_intensity`` (OPs/byte), ``performance`` (attainable OPs/s),
        ``bound`` (``"memory"``/``"compute"``), ``time_s`` (one instance), ``count``
        (instances per block), ``per_model``, and the byte breakdown. Totals per stage
        (whole model, exact ints for ops and bytes): ``ops, memory_access, load_weight,
        load_act, store_act, load_kv, store_kv, time_s, tokens_per_s`` (decode: batch /
        time; prefill: batch x seqlen / time).
    """
    if not isinstance(hardware, HardwareProfile):
        raise TypeError(f"hardware must be a HardwareProfile, not {hardware!r}")
    precision, peak = hardware.peak_for(workload.w_bits, workload.a_bits, workload.kv_bits)
    bw = hardware.level_bandwidth(memory_level)
    rows, totals = [], {}
    keys = ("ops", "load_weight", "load_act", "store_act", "load_kv", "store_kv")
    for stage in stages:
        if stage == "decode" and not model.decoder:
            continue
        t = dict.fromkeys(keys, 0)
        time_s = 0
        for c in layer_costs(model, workload, stage):
            mem = c.memory_access
            perf = _rl.attainable(c.ops, mem, peak, bw)
            seconds = _rl.roofline_time(c.ops, mem, peak, bw)
            mult = c.count * (1 if c.per_model else model.num_layers)
            row = c.as_dict()
            row.update(arithmetic_intensity=(c.ops / mem) if mem else math.inf,
                       performance=float(perf), bound=_rl.bound(c.ops, mem, peak, bw),
                       time_s=float(seconds))
            rows.append(row)
            for k in keys:
                t[k] += mult * getattr(c, k)
            time_s += mult * seconds
        t["memory_access"] = sum(t[k] for k in keys[1:])
        t["time_s"] = float(time_s)
        tokens = workload.batch * (workload.seqlen if stage == "prefill" else 1)
        t["tokens_per_s"] = float(tokens / time_s)
        totals[stage] = t
    return {
        "model": model.name, "hardware": hardware.name,
        "workload": {"seqlen": workload.seqlen, "batch": workload.batch,
                     "w_bits": workload.w_bits, "a_bits": workload.a_bits,
                     "kv_bits": workload.kv_bits, "flash_attention": workload.flash_attention,
                     "flash_block": workload.flash_block, "conventions": workload.conventions},
        "peak": {"precision": precision, "ops_per_s": peak},
        "bandwidth_bytes_per_s": bw, "memory_level": memory_level or "main",
        "ridge_point": float(_rl.ridge_point(peak, bw)),
        "kv_cache_bytes": kv_cache_bytes(model, workload),
        "weight_bytes": weight_bytes(model, workload),
        "rows": rows, "totals": totals,
    }


# --------------------------------------------------------------------------------------
# Plot.

def plot_roofline(analyses: list[dict], profiles: list[HardwareProfile], out_stem,
                  title: str = "", formats=("png", "svg")) -> list[Path]:
    """Draw a log-log roofline: each profile's roofs, each layer of each analysis as a
    point on its hardware's roof (circles prefill, triangles decode).

    ``analyses[i]`` must be :func:`analyze` of ``profiles[i]``. Extra memory levels
    (FPGA block RAM) are drawn dashed. Writes ``out_stem.png`` and ``out_stem.svg``
    (matplotlib, Agg backend) and returns the paths.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(analyses) != len(profiles):
        raise ValueError(f"analyses ({len(analyses)}) and profiles ({len(profiles)}) "
                         "must pair up")
    ais = [r["arithmetic_intensity"] for a in analyses for r in a["rows"]
           if math.isfinite(r["arithmetic_intensity"])]
    x_lo = 10 ** math.floor(math.log10(min(ais + [0.1])))
    x_hi = 10 ** math.ceil(math.log10(max(ais + [1e4]) * 1.5))
    fig, ax = plt.subplots(figsize=(12, 9))
    cmap = plt.get_cmap("tab10")
    for i, (a, hw) in enumerate(zip(analyses, profiles)):
        color = cmap(i % 10)
        peak = a["peak"]["ops_per_s"]
        levels = [("main", hw.bandwidth, "-")]
        levels += [(k, v, "--") for k, v in hw.memory_levels.items() if v != hw.bandwidth]
        for lvl, bw, style in levels:
            ridge = peak / bw
            xs = [x_lo, min(max(ridge, x_lo), x_hi), x_hi]
            ys = [min(peak, x * bw) for x in xs]
            label = f"{hw.name}: {peak / 1e12:.4g} TOPS ({a['peak']['precision']}), " \
                    f"{bw / 1e9:.4g} GB/s" if lvl == "main" else \
                    f"{hw.name}: {lvl} {bw / 1e9:.4g} GB/s"
            ax.plot(xs, ys, style, color=color, lw=1.8 if lvl == "main" else 1.2,
                    label=label)
        for stage, marker in (("prefill", "o"), ("decode", "^")):
            pts = [(r["arithmetic_intensity"], r["performance"]) for r in a["rows"]
                   if r["stage"] == stage and math.isfinite(r["arithmetic_intensity"])]
            if pts:
                ax.scatter(*zip(*pts), marker=marker, color=color, s=28, zorder=3,
                           edgecolors="black", linewidths=0.4)
    # Layer names once: a letter at each distinct AI on the first hardware's roof, and a
    # key listing the layers behind each letter.
    first = analyses[0]
    groups = {}
    for r in first["rows"]:
        ai = r["arithmetic_intensity"]
        if math.isfinite(ai):
            key = float(f"{ai:.2g}")
            g = groups.setdefault(key, {"ai": ai, "perf": r["performance"], "names": []})
            g["names"].append(f"{r['stage'][0]}:{r['layer']}")
    key_lines = []
    for n, (_, g) in enumerate(sorted(groups.items())):
        tag = chr(ord("A") + n) if n < 26 else str(n)
        ax.annotate(tag, (g["ai"], g["perf"]), textcoords="offset points",
                    xytext=(-4, 7) if n % 2 == 0 else (3, -13), fontsize=8, fontweight="bold")
        key_lines.append(f"{tag} (AI {g['ai']:.3g}): {', '.join(g['names'])}")
    fig.text(0.01, 0.01, "\n".join(key_lines), va="bottom", fontsize=7, family="monospace")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_xlabel("arithmetic intensity (OPs/byte)")
    ax.set_ylabel("attainable performance (OPs/s)")
    ax.set_title(title)
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=7, loc="lower right")
    ax.text(0.01, 0.99, "o prefill (p:)   ^ decode (d:)   -- on-chip (block RAM) roof",
            transform=ax.transAxes, va="top", fontsize=8)
    fig.tight_layout(rect=(0, 0.02 + 0.018 * len(key_lines), 1, 1))
    out = []
    for fmt in formats:
        p = Path(f"{out_stem}.{fmt}")
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=130, metadata={"Date": None} if fmt == "svg" else None)
        out.append(p)
    plt.close(fig)
    return out
