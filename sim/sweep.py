"""Simulator figures for design-space sweeps (:mod:`attnkit.boards.sweep`).

``boards`` may not import ``sim``, so the collectors that run Amaranth's simulator live here;
``tools/sweep.py`` (and tests) merge :data:`COLLECTORS` with
:data:`attnkit.boards.sweep.COLLECTORS`. Collectors are module-level functions, so Dask
workers load them by reference from an installed attnkit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["collect_cycles", "COLLECTORS"]


def collect_cycles(point: dict, ctx: dict) -> dict:
    """Cycles of one GEMV job in a simulator, no stalls, for designs ``gemv`` and
    ``accelerator`` (the same array).

    Options (``[options.cycles]``): ``m``, ``n`` (job size, default 8 x lanes each, ``n``
    capped at the design's ``max_n``), ``deadline_cycles`` (default 2,000,000), ``engine``:
    ``"amaranth"`` (default, :func:`attnkit.sim.gemv_driver.simulate_gemv`) or ``"fast"``
    (Verilator, :func:`attnkit.sim.fast_gemv.simulate_gemv_with`; bit-exact in outputs and
    cycles with Amaranth's simulator, much faster at real sizes). The job is random int8
    activations and int``weight_bits`` weights seeded with the point's seed.

    Figures: ``cycles`` (first simulated cycle until the last output is accepted, inclusive),
    ``ideal_cycles`` (``m * n / lanes``, :func:`attnkit.golden.gemv.ideal_cycles`),
    ``utilization`` (ideal / simulated), ``bit_exact`` (output equals
    :func:`attnkit.golden.gemv.gemv`), ``job_m``, ``job_n``.

    Raises
    ------
    ValueError
        For another design, or when the simulated output differs from the golden model
        (then the point is not a valid design point).
    """
    from attnkit.golden.gemv import gemv, ideal_cycles
    from attnkit.hdl.gemv import GemvArray

    from .gemv_driver import GemvJob, simulate_gemv

    if point["design"] not in ("gemv", "accelerator"):
        raise ValueError(f"cycles: no simulator driver for design {point['design']!r} "
                         f"(supported: gemv, accelerator)")
    p = point["params"]
    opts = point["options"].get("cycles", {})
    lanes, wb = p["lanes"], p["weight_bits"]
    m = int(opts.get("m", 8 * lanes if isinstance(lanes, int) else 64))
    n = int(opts.get("n", min(8 * lanes if isinstance(lanes, int) else 64, p["max_n"])))
    dut_params = {k: p[k] for k in ("lanes", "weight_bits", "acc_width", "requant", "max_n",
                                    "group") if k in p}
    dut = GemvArray(**dut_params)
    rng = np.random.default_rng(point["seed"])
    lo = -(1 << (wb - 1))
    W = rng.integers(lo, -lo, (m, n))
    x = rng.integers(-128, 128, n)
    if p.get("requant"):
        raise ValueError("cycles: requant=True is not driven by this collector")
    engine = opts.get("engine", "amaranth")
    deadline = int(opts.get("deadline_cycles", 2_000_000))
    if engine == "amaranth":
        (y,), _, cycles = simulate_gemv(dut, [GemvJob(W, x)], deadline_cycles=deadline)
    else:
        from .fast_gemv import simulate_gemv_with
        (y,), _, cycles = simulate_gemv_with(engine, dut, [GemvJob(W, x)],
                                             deadline_cycles=deadline)
    exact = bool(np.array_equal(y, gemv(W, x, weight_bits=wb, acc_width=p["acc_width"])))
    if not exact:
        raise ValueError(f"cycles: simulated output differs from the golden model for {p}")
    ideal = ideal_cycles(m, n, lanes)
    return {"cycles": cycles, "ideal_cycles": ideal, "utilization": round(ideal / cycles, 5),
            "bit_exact": exact, "job_m": m, "job_n": n, "sim_engine": engine}


#: Figure name -> collector.
COLLECTORS = {"cycles": collect_cycles}
