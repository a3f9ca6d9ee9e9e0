# amaranth: UnusedElaboratable=no
"""GemvArray against the golden model in Amaranth's simulator (fast tier)."""

import numpy as np
import pytest

from attnkit.golden.gemv import gemv, min_acc_width
from attnkit.golden.quant import requant_params
from attnkit.hdl.gemv import GemvArray
from attnkit.sim.gemv_driver import GemvJob, simulate_gemv
from attnkit.sim.streams import STALL_CASES, Stalls

SEEDS = range(10)


def random_job(rng, M, N, weight_bits, requant=False):
    lo = -(1 << (weight_bits - 1))
    W = rng.integers(lo, -lo, (M, N))
    x = rng.integers(-128, 128, N)
    rq = requant_params(float(rng.uniform(0.5, 4.0)) / (128.0 * np.sqrt(N) * (-lo))) if requant else None
    return GemvJob(W, x, rq)


def check(dut, jobs, seed, p):
    outs, lasts, cycles = simulate_gemv(dut, jobs, Stalls(seed, p))
    for j, (job, y, last) in enumerate(zip(jobs, outs, lasts)):
        exp = gemv(job.W, job.x, weight_bits=dut.weight_bits, acc_width=dut.acc_width, requant=job.requant)
        assert np.array_equal(y, exp), f"seed={seed} p={p} job {j}: got {y}, expected {exp}"
        assert last == [0] * (len(exp) - 1) + [1], f"seed={seed} p={p} job {j}: last flags {last}"
    return cycles


@pytest.mark.parametrize("p", STALL_CASES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weight_bits", [8, 4])
def test_random_shapes(weight_bits, seed, p):
    """Random M, N (M < P, M % P != 0, N = 1 all occur) and back-to-back jobs."""
    rng = np.random.default_rng(1000 * weight_bits + seed)
    dut = GemvArray(lanes=8, weight_bits=weight_bits, max_n=32, group=4)
    shapes = [(int(rng.integers(1, 30)), int(rng.integers(1, 33))) for _ in range(2)]
    shapes.append((int(rng.integers(1, 8)), 1))
    check(dut, [random_job(rng, M, N, weight_bits) for M, N in shapes], seed, p)


@pytest.mark.parametrize("p", STALL_CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_requant(seed, p):
    rng = np.random.default_rng(seed)
    dut = GemvArray(lanes=6, requant=True, max_n=24, group=3)
    jobs = [random_job(rng, int(rng.integers(1, 20)), int(rng.integers(1, 25)), 8, requant=True)
            for _ in range(2)]
    check(dut, jobs, seed, p)


@pytest.mark.parametrize("p", STALL_CASES)
def test_requant_edges(p):
    """shift 0, huge multiplier (saturates both ways), exact .5 ties."""
    dut = GemvArray(lanes=4, requant=True, max_n=4, group=2)
    W = np.array([[1, 0], [-1, 0], [127, 127], [-128, -128], [3, 0], [-3, 0], [1, 1]])
    x = np.array([1, 1])
    jobs = [GemvJob(W, x, (1, 0)), GemvJob(W, x, (65535, 0)), GemvJob(W, x, (1, 1)),
            GemvJob(W, x, (3, 2)), GemvJob(W * 0 + 127, np.array([127, 127]), (65535, 63))]
    check(dut, jobs, 7, p)


@pytest.mark.parametrize("p", STALL_CASES)
@pytest.mark.parametrize("weight_bits", [8, 4])
def test_extremes(weight_bits, p):
    """Max-magnitude products accumulating (-128 x -128, int4 -8 x -128), both signs."""
    lo = -(1 << (weight_bits - 1))
    N = 32
    dut = GemvArray(lanes=4, weight_bits=weight_bits, max_n=N, group=2)
    W = np.array([[lo] * N, [lo] * N, [-lo - 1] * N, [lo, -lo - 1] * (N // 2),
                  [-lo - 1] * N, [0] * N])
    jobs = [GemvJob(W, np.full(N, -128)), GemvJob(W, np.full(N, 127)), GemvJob(W[:1, :1], np.array([-128]))]
    check(dut, jobs, 3, p)


def test_accumulator_width_wraps_like_golden():
    """A deliberately narrow accumulator wraps exactly as the golden model says."""
    N = 8
    dut = GemvArray(lanes=2, acc_width=18, max_n=N, group=1)
    assert min_acc_width(N) > 18
    W = np.full((2, N), -128)
    check(dut, [GemvJob(W, np.full(N, -128))], 0, 0.0)


def test_large_tile_count_and_full_group():
    """Many tiles with lanes not a multiple of group; 12 lanes x 3 tiles."""
    rng = np.random.default_rng(5)
    dut = GemvArray(lanes=12, max_n=40, group=5)
    check(dut, [random_job(rng, 35, 40, 8)], 5, 0.0)


@pytest.mark.parametrize("weight_bits", [8, 4])
def test_cycle_count_full_rate(weight_bits):
    """Without stalls a job takes ceil(M/P)*N issue cycles plus a fixed overhead.

    Overhead = start_cycles (job start) + latency to the first result + the last tile's drain, all
    deterministic; for N >= P + G + latency no tile waits for the previous drain.
    """
    P, M, N = 8, 64, 64
    rng = np.random.default_rng(11)
    dut = GemvArray(lanes=P, weight_bits=weight_bits, max_n=N, group=4)
    cycles = check(dut, [random_job(rng, M, N, weight_bits)], 0, 0.0)
    issue = (M // P) * N
    overhead = dut.start_cycles + dut.latency + dut.drain_cycles
    assert cycles <= issue + overhead, (cycles, issue, overhead)
    assert cycles >= issue, (cycles, issue)


def test_back_to_back_jobs_keep_full_rate():
    """A second job starts while the first drains: total cycles grow by exactly its issue
    slots + its start cycles."""
    P, M, N = 8, 32, 48
    rng = np.random.default_rng(12)
    dut = GemvArray(lanes=P, max_n=N, group=4)
    one = check(dut, [random_job(rng, M, N, 8)], 0, 0.0)
    two = check(dut, [random_job(rng, M, N, 8), random_job(rng, M, N, 8)], 0, 0.0)
    assert two - one == (M // P) * N + dut.start_cycles, (one, two)


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(lanes=0), ValueError, "lanes must be in 1..312, not 0"),
    (dict(lanes=2.5), TypeError, "lanes must be an int, not 2.5"),
    (dict(weight_bits=6), ValueError, "weight_bits must be one of (4, 8), not 6"),
    (dict(weight_bits=4, lanes=7), ValueError, "lanes must be even with weight_bits=4, not 7"),
    (dict(weight_bits=4, lanes=8, group=3), ValueError, "group must be even with weight_bits=4, not 3"),
    (dict(acc_width=16), ValueError, "acc_width must be in 18..48, not 16"),
    (dict(max_n=0), ValueError, "max_n must be in 1..16384, not 0"),
    (dict(requant=True, acc_width=36), ValueError, "acc_width must be <= 35 with requant=True, not 36"),
    (dict(requant=1), TypeError, "requant must be a bool, not 1"),
    (dict(dsp="xilinx"), ValueError, "dsp must be one of ('auto', 'primitive', 'behavioural'), not 'xilinx'"),
])
def test_bad_parameters(kwargs, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        GemvArray(**kwargs)


def test_dsp_count():
    assert GemvArray(lanes=156).dsp_count == 156
    assert GemvArray(lanes=156, weight_bits=4).dsp_count == 78
