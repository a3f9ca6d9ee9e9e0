#!/usr/bin/env python3
"""Run a design-space sweep (builds, simulated cycles, golden-model accuracy) on Dask.

Usage::

    python tools/sweep.py sweeps/gemv_lanes_wbits_85f.toml --dry-run     # print the grid
    python tools/sweep.py sweeps/gemv_lanes_wbits_85f.toml --workers 2   # LocalCluster
    python tools/sweep.py sweeps/gemv_lanes_wbits_85f.toml --scheduler tcp://HOST:8786
    python tools/sweep.py sweeps/softmax_methods.toml --out docs/sweep_softmax_methods

Points whose result is cached (``--cache``, default ``build/sweep-cache``) are not run again,
so an interrupted sweep resumes; ``--no-cache`` runs everything. Progress (points done/total,
failures, elapsed, estimate) goes to stderr; the outputs are ``OUT.json``, ``OUT.csv``,
``OUT.md`` and ``OUT_<y>_vs_<x>.png`` (default ``OUT`` = ``build/sweep/<name>/<name>``).

With ``--scheduler`` the same sweep goes to a running Dask cluster: start one with
``dask scheduler`` on one machine and ``dask worker tcp://HOST:8786 --nthreads 1`` on each
worker machine (each with attnkit installed: ``pip install -e .``). Build folders
are then on the workers; rows come back as data and the cache and reports are written here.

Exit status: 0 every point ok; 1 some point failed (the rows say why); 2 bad arguments or
sweep file. The logic lives in :mod:`attnkit.boards.sweep` and :mod:`attnkit.sim.sweep`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from attnkit.boards import sweep as sw
from attnkit.sim.sweep import COLLECTORS as SIM_COLLECTORS

REPO = Path(__file__).resolve().parents[1]
COLLECTORS = {**sw.COLLECTORS, **SIM_COLLECTORS}


def parser():
    p = argparse.ArgumentParser(prog="sweep.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 all ok, 1 some point failed, 2 usage")
    p.add_argument("spec", type=Path, help="sweep file (.toml or .json)")
    p.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="address of a running Dask scheduler (default: a LocalCluster)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="LocalCluster worker processes (default: this machine's cores, "
                        f"{os.cpu_count()})")
    p.add_argument("--memory-limit", default="auto",
                   help="LocalCluster memory limit per worker (Dask syntax, e.g. 4GB; "
                        "default auto)")
    p.add_argument("--dry-run", action="store_true", help="print the grid and exit")
    p.add_argument("--out", type=Path, help="output stem (default build/sweep/NAME/NAME)")
    p.add_argument("--cache", type=Path, default=REPO / "build" / "sweep-cache",
                   help="result cache folder (default build/sweep-cache)")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the cache")
    p.add_argument("--build-dir", help="build folder root on the workers (default: the "
                                       "sweep file's build_dir, else build/sweep)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--from-json", type=Path, metavar="RESULT.json",
                   help="do not run: rewrite the outputs (tables, Pareto front, plots, "
                        "roofline) of an earlier result with this sweep file's pareto, plots "
                        "and roofline settings; rows and wall time are kept")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        spec = sw.load_spec(args.spec, known_figures=COLLECTORS)
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, not {args.workers}")
    except (OSError, ValueError, TypeError) as exc:
        sys.stderr.write(f"sweep.py: error: {exc}\n")
        return 2
    cache = args.cache
    if args.no_cache:
        import tempfile
        cache = Path(tempfile.mkdtemp(prefix="sweep-nocache-"))
    if args.dry_run:
        sys.stdout.write(sw.dry_run_text(spec, cache))
        return 0
    if args.from_json:
        try:
            result = sw.reload_result(args.from_json, spec)
        except (OSError, ValueError, KeyError) as exc:
            sys.stderr.write(f"sweep.py: error: --from-json: {exc}\n")
            return 2
    else:
        result = sw.run_sweep(spec, collectors=COLLECTORS, cache_dir=cache,
                              scheduler=args.scheduler, n_workers=args.workers,
                              memory_limit=args.memory_limit, build_dir=args.build_dir)
    stem = args.out or REPO / "build" / "sweep" / spec.name / spec.name
    paths = sw.write_outputs(result, stem, plots=not args.no_plots)
    md = Path(stem).with_suffix(".md").read_text()
    front = md.split("## Pareto front", 1)
    if len(front) == 2:
        print("Pareto front" + front[1].split("\n## ", 1)[0].rstrip())
    print(f"wall time {result['wall_s']:.1f} s, {result['summary']}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0 if all(r["status"] == "ok" for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
