#!/usr/bin/env python3
"""Measure a GPU (or CPU) baseline with PyTorch and write a roofline profile JSON.

Times decode-shaped GEMV, a prefill-shaped GEMM, attention (prefill and decode) and
softmax kernels at Llama-2 7B shapes, reports the achieved bandwidth (bytes/s) and
OPs/s of each, and writes a profile (schema ``attnkit.measured_profile/1``) that
``tools/roofline.py --hardware profile.json`` accepts::

    python tools/gpu_baseline.py --device cuda --out profile.json   # < 2 min on H100
    python tools/gpu_baseline.py --device cpu --quick --out cpu.json

PyTorch 2.13.0 is a dependency of attnkit (the MiniLM reference test needs it; the ``gpu``
extra names the same pin); on a CUDA machine PyPI's 2.13.0 wheel is a CUDA build.

Method
------
* Each kernel runs ``warmup`` times, then ``trials`` timed trials of ``iters``
  back-to-back calls; the per-call time is the trial time / ``iters``, and the profile
  keeps the median and the minimum over trials. On CUDA the trials are timed with CUDA
  events after ``torch.cuda.synchronize()``; on CPU with ``time.perf_counter``.
* Weight-streaming kernels (GEMV, decode attention) rotate over enough copies of
  their operands that the working set exceeds the last-level cache (256 MiB on CUDA,
  64 MiB on CPU), so the figure is DRAM/HBM bandwidth, not cache bandwidth.
* OPs and bytes are the workload model's (:mod:`attnkit.golden.workload`): a
  multiply-add = 2 OPs; softmax 5 OPs per element; bytes = each operand read once and
  each result written once (the minimum traffic). Attention uses
  ``torch.nn.functional.scaled_dot_product_attention`` (non-causal) whose OPs are
  ``4 H T^2 d + 5 H T^2`` and bytes Q, K, V, O.
* ``summary.bandwidth_bytes_per_s`` is the best median bandwidth of the GEMV
  kernels; ``summary.peak_ops_per_s`` the best median OPs/s of any kernel.
* dtype: float16 on CUDA, float32 on CPU (CPU half-precision matmul is emulated).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics
import sys
import time

SCHEMA = "attnkit.measured_profile/1"
TORCH_MISSING = "torch not installed; pip install attnkit[gpu]"


def _import_torch():
    try:
        import torch
    except ImportError:
        raise RuntimeError(TORCH_MISSING) from None
    return torch


def kernel_specs(quick: bool) -> list[dict]:
    """The kernels and shapes to time (Llama-2 7B shapes; ``quick``: small ones)."""
    h, i, H, d = 4096, 11008, 32, 128
    if quick:
        return [
            {"kernel": "gemv", "shape": [1024, 1024]},
            {"kernel": "gemm", "shape": [64, 512, 512]},
            {"kernel": "attention_prefill", "shape": [4, 128, 64]},
            {"kernel": "attention_decode", "shape": [4, 256, 64]},
            {"kernel": "softmax", "shape": [256, 256]},
        ]
    return [
        {"kernel": "gemv", "shape": [h, h]},             # q/k/v/o_proj decode
        {"kernel": "gemv", "shape": [i, h]},             # gate/up_proj decode
        {"kernel": "gemv", "shape": [h, i]},             # down_proj decode
        {"kernel": "gemm", "shape": [2048, h, h]},       # q_proj prefill, s = 2048
        {"kernel": "attention_prefill", "shape": [H, 512, d]},
        {"kernel": "attention_prefill", "shape": [H, 2048, d]},
        {"kernel": "attention_decode", "shape": [H, 512, d]},
        {"kernel": "attention_decode", "shape": [H, 2048, d]},
        {"kernel": "softmax", "shape": [H * 512, 512]},  # prefill score rows, T = 512
        {"kernel": "softmax", "shape": [H, 2048]},       # decode score rows, T = 2048
    ]


def _cost(kernel: str, shape: list[int], elem: int) -> tuple[int, int]:
    """(OPs, bytes) of one call, by the workload model's conventions."""
    if kernel == "gemv":                 # y[out] = W[out, in] @ x[in]
        o, n = shape
        return 2 * o * n, (o * n + n + o) * elem
    if kernel == "gemm":                 # Y[s, out] = X[s, in] @ W[out, in]^T
        s, o, n = shape
        return 2 * s * o * n, (s * n + o * n + s * o) * elem
    if kernel == "attention_prefill":    # Q, K, V, O: [H, T, d]
        H, T, d = shape
        return 4 * H * T * T * d + 5 * H * T * T, 4 * H * T * d * elem
    if kernel == "attention_decode":     # q, o: [H, 1, d]; K, V: [H, T, d]
        H, T, d = shape
        return 4 * H * T * d + 5 * H * T, (2 * H * T * d + 2 * H * d) * elem
    if kernel == "softmax":              # [rows, cols], softmax along cols
        r, c = shape
        return 5 * r * c, 2 * r * c * elem
    raise ValueError(f"unknown kernel {kernel!r}")


def _make(torch, kernel, shape, dtype, dev, rotate_bytes):
    """Operands (rotated copies) and the call for one kernel."""
    F = torch.nn.functional
    g = torch.Generator(device="cpu").manual_seed(0)

    def rnd(*s):
        return torch.randn(*s, generator=g, dtype=torch.float32).to(dev, dtype)

    ops, nbytes = _cost(kernel, shape, torch.tensor([], dtype=dtype).element_size())
    copies = 1
    if kernel in ("gemv", "attention_decode"):
        copies = max(1, math.ceil(rotate_bytes / nbytes))
    if kernel == "gemv":
        o, n = shape
        sets = [(rnd(o, n), rnd(n)) for _ in range(copies)]
        fn = lambda a: torch.mv(*a)                              # noqa: E731
    elif kernel == "gemm":
        s, o, n = shape
        sets = [(rnd(s, n), rnd(o, n))]
        fn = lambda a: a[0] @ a[1].T                              # noqa: E731
    elif kernel == "attention_prefill":
        H, T, d = shape
        sets = [(rnd(1, H, T, d), rnd(1, H, T, d), rnd(1, H, T, d))]
        fn = lambda a: F.scaled_dot_product_attention(*a)        # noqa: E731
    elif kernel == "attention_decode":
        H, T, d = shape
        sets = [(rnd(1, H, 1, d), rnd(1, H, T, d), rnd(1, H, T, d)) for _ in range(copies)]
        fn = lambda a: F.scaled_dot_product_attention(*a)        # noqa: E731
    elif kernel == "softmax":
        r, c = shape
        sets = [(rnd(r, c),)]
        fn = lambda a: torch.softmax(a[0], dim=-1)                # noqa: E731
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    return sets, fn, ops, nbytes


def _time(torch, dev, sets, fn, warmup, trials, iters):
    """Per-call seconds of each trial."""
    cuda = dev.type == "cuda"
    k = 0
    for _ in range(warmup):
        fn(sets[k % len(sets)])
        k += 1
    if cuda:
        torch.cuda.synchronize()
    out = []
    for _ in range(trials):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                enable_timing=True)
            start.record()
        else:
            t0 = time.perf_counter()
        for _ in range(iters):
            fn(sets[k % len(sets)])
            k += 1
        if cuda:
            end.record()
            torch.cuda.synchronize()
            out.append(start.elapsed_time(end) / 1e3 / iters)
        else:
            out.append((time.perf_counter() - t0) / iters)
    return out


def _run_all(torch, dev, dtype, quick, warmup, trials, iters, rotate, log):
    t_start = time.perf_counter()
    kernels = []
    specs = kernel_specs(quick)
    for n, spec in enumerate(specs, 1):
        t_kernel = time.perf_counter()
        sets, fn, ops, nbytes = _make(torch, spec["kernel"], spec["shape"], dtype, dev,
                                      rotate)
        with torch.inference_mode():
            secs = _time(torch, dev, sets, fn, warmup, trials, iters)
        med, best = statistics.median(secs), min(secs)
        rec = {"kernel": spec["kernel"], "shape": spec["shape"], "dtype": str(dtype)[6:],
               "ops": ops, "bytes": nbytes, "arithmetic_intensity": ops / nbytes,
               "seconds_median": med, "seconds_min": best, "trials": len(secs),
               "iters_per_trial": iters, "rotated_copies": len(sets),
               "achieved_ops_per_s": ops / med, "achieved_bytes_per_s": nbytes / med}
        del sets
        rec["elapsed_s"] = time.perf_counter() - t_kernel
        kernels.append(rec)
        log(f"[{n}/{len(specs)} {time.perf_counter() - t_start:6.1f} s] "
            f"{spec['kernel']:18s} {str(spec['shape']):18s} {med * 1e6:10.1f} us  "
            f"{rec['achieved_bytes_per_s'] / 1e9:8.2f} GB/s  "
            f"{rec['achieved_ops_per_s'] / 1e12:8.3f} TOPS")
    return kernels


def measure(device: str = "auto", quick: bool = False, warmup: int | None = None,
            trials: int | None = None, iters: int | None = None, threads: int | None = None,
            log=print) -> dict:
    """Run every kernel on ``device`` and return the profile dict.

    ``threads`` sets ``torch.set_num_threads`` for the CPU run (restored afterwards);
    on a loaded machine 1 thread avoids OpenMP barrier stalls that swamp small kernels.

    Raises
    ------
    RuntimeError
        ``"torch not installed; pip install attnkit[gpu]"`` without PyTorch, or when
        ``device="cuda"`` and no CUDA device is available.
    ValueError
        On a device other than ``auto``, ``cuda``, ``cpu``.
    """
    if device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"device must be 'auto', 'cuda' or 'cpu', not {device!r}")
    torch = _import_torch()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but torch.cuda.is_available() is False "
                           f"(torch {torch.__version__})")
    dev = torch.device(device)
    cuda = device == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    warmup = warmup if warmup is not None else (2 if quick else 5)
    trials = trials if trials is not None else (3 if quick else 7)
    iters = iters if iters is not None else (2 if quick else (20 if cuda else 3))
    rotate = (256 if cuda else 64) * 2**20
    if quick:
        rotate = 4 * 2**20
    name = torch.cuda.get_device_name(dev) if cuda else (platform.processor()
                                                         or platform.machine())
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads <= 0):
        raise ValueError(f"threads must be a positive int, not {threads!r}")
    saved_threads = torch.get_num_threads()
    if threads is not None and not cuda:
        torch.set_num_threads(threads)
    try:
        kernels = _run_all(torch, dev, dtype, quick, warmup, trials, iters, rotate, log)
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(saved_threads)
    gemv = [k for k in kernels if k["kernel"] == "gemv"]

    bw = max(gemv, key=lambda k: k["achieved_bytes_per_s"])
    pk = max(kernels, key=lambda k: k["achieved_ops_per_s"])
    return {
        "schema": SCHEMA,
        "device": {"type": device, "name": name},
        "torch_version": torch.__version__,
        "dtype": str(dtype)[6:],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"quick": quick, "warmup": warmup, "trials": trials, "iters": iters,
                     "rotate_bytes": rotate, "threads": None if cuda else used_threads},
        "kernels": kernels,
        "summary": {"bandwidth_bytes_per_s": bw["achieved_bytes_per_s"],
                    "bandwidth_kernel": f"{bw['kernel']} {bw['shape']}",
                    "peak_ops_per_s": pk["achieved_ops_per_s"],
                    "peak_kernel": f"{pk['kernel']} {pk['shape']}",
                    "dtype": str(dtype)[6:], "statistic": "median"},
        "elapsed_s": sum(k["elapsed_s"] for k in kernels),
    }


def format_table(profile: dict) -> str:
    lines = [f"{profile['device']['type']} {profile['device']['name']}, torch "
             f"{profile['torch_version']}, {profile['dtype']}",
             f"{'kernel':18s} {'shape':18s} {'median':>10s} {'GB/s':>9s} {'TOPS':>9s} "
             f"{'OPs/B':>8s}"]
    for k in profile["kernels"]:
        lines.append(f"{k['kernel']:18s} {str(k['shape']):18s} "
                     f"{k['seconds_median'] * 1e6:8.1f}us {k['achieved_bytes_per_s'] / 1e9:9.2f} "
                     f"{k['achieved_ops_per_s'] / 1e12:9.3f} {k['arithmetic_intensity']:8.2f}")
    s = profile["summary"]
    lines.append(f"summary: bandwidth {s['bandwidth_bytes_per_s'] / 1e9:.2f} GB/s "
                 f"({s['bandwidth_kernel']}), peak {s['peak_ops_per_s'] / 1e12:.3f} TOPS "
                 f"({s['peak_kernel']}); {profile['elapsed_s']:.1f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    ap.add_argument("--out", default="profile.json", help="profile JSON to write")
    ap.add_argument("--quick", action="store_true", help="small shapes, few repeats (tests)")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    try:
        prof = measure(args.device, args.quick, args.warmup, args.trials, args.iters,
                       args.threads)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with open(args.out, "w") as f:
        json.dump(prof, f, indent=1)
        f.write("\n")
    print(format_table(prof))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
