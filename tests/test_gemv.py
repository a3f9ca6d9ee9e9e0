# amaranth: UnusedElaboratable=no
"""GemvArray against the golden model in Amaranth's simulator (fast tier)."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.sim import Simulator

from attnkit.golden.gemv import gemv, min_acc_width, weight_beats
from attnkit.golden.quant import requant_params
from attnkit.hdl.gemv import GemvArray
from attnkit.sim.gemv_driver import GemvJob, simulate_gemv
from attnkit.sim.streams import STALL_CASES, Stalls, run_simulation, stream_get, stream_put

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


class _Resettable(Elaboratable):
    """``dut`` in a ``sync`` domain whose reset the testbench drives."""

    def __init__(self, dut):
        self.dut, self.cd = dut, ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.cd
        m.submodules.dut = self.dut
        return m


def run_reset_mid_job(dut, rng):
    """Job A runs until tile 0's results and part of tile 1 are in the lanes, then a
    one-cycle reset, then job B. Returns (B's expected outputs, (cycle, data, last) of every
    y beat after the reset, cycle of the reset, cycle of B's first accepted x beat,
    ``busy`` per cycle)."""
    P = dut.lanes
    A, B = random_job(rng, 2 * P, 12, 8), random_job(rng, P + 3, 9, 8)
    top = _Resettable(dut)
    st = {"cyc": 0, "reset_at": None, "b_first_x": None, "busy": {}, "ys": []}
    a_beats = weight_beats(A.W, P)[:A.W.shape[1] + 3]   # tile 0 and 3 columns of tile 1

    async def tb_count(ctx):
        while True:
            _, _, busy = await ctx.tick().sample(dut.busy)
            st["cyc"] += 1
            st["busy"][st["cyc"]] = busy

    async def tb_y(ctx):
        ctx.set(dut.y_stream.ready, 1)
        while True:
            _, _, v, pl = await ctx.tick().sample(dut.y_stream.valid, dut.y_stream.payload)
            if v and st["reset_at"] is not None and st["cyc"] >= st["reset_at"]:
                st["ys"].append((st["cyc"], pl["data"], pl["last"]))

    async def tb_x(ctx):
        for job in (A, B):
            if job is B:
                while st["reset_at"] is None or st["cyc"] <= st["reset_at"]:
                    await ctx.tick()
            ctx.set(dut.m, job.W.shape[0])
            ctx.set(dut.n, job.W.shape[1])
            for v in job.x:
                await stream_put(ctx, dut.x_stream, int(v))
                if job is B and st["b_first_x"] is None:
                    st["b_first_x"] = st["cyc"]

    async def tb_w(ctx):
        for beat in a_beats:
            await stream_put(ctx, dut.w_stream, [int(v) for v in beat])
        await ctx.tick().repeat(2)            # lanes busy with tile 0's last columns
        ctx.set(top.cd.rst, 1)
        await ctx.tick()
        ctx.set(top.cd.rst, 0)
        st["reset_at"] = st["cyc"]
        for beat in weight_beats(B.W, P):
            await stream_put(ctx, dut.w_stream, [int(v) for v in beat])
        while len(st["ys"]) < B.W.shape[0]:
            await ctx.tick()
        await ctx.tick().repeat(dut.flush_cycles + dut.latency)   # nothing else may follow

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_process(tb_count)
    sim.add_process(tb_y)
    sim.add_testbench(tb_x, background=True)
    sim.add_testbench(tb_w)
    sim.run()
    exp = gemv(B.W, B.x, weight_bits=8, acc_width=dut.acc_width)
    return exp, st


def test_reset_mid_job_flushes_the_lanes():
    """The lanes and the result chain have no reset: a reset while a job's results are in
    flight must still leave no trace. After a one-cycle reset the array is busy and takes no
    job for exactly flush_cycles cycles, then job B's outputs are exact and nothing else
    leaves y_stream."""
    dut = GemvArray(lanes=8, max_n=16, group=4)
    exp, st = run_reset_mid_job(dut, np.random.default_rng(7))
    ys = st["ys"]
    assert [d for _, d, _ in ys] == list(exp)
    assert [last for _, _, last in ys] == [0] * (len(exp) - 1) + [1]
    # x of job B is offered from the cycle after the reset; it is taken once the flush is
    # over, the job has started (start_cycles) and its first issue slot comes
    assert st["b_first_x"] - st["reset_at"] == dut.flush_cycles + dut.start_cycles + 1
    r = st["reset_at"]
    assert all(st["busy"][c] for c in range(r + 1, r + dut.flush_cycles + 1))


def test_reset_without_full_flush_leaks(monkeypatch):
    """Negative control: with a flush shorter than the result chain, results of the job
    interrupted by the reset leave y_stream as if they were job B's."""
    monkeypatch.setattr(GemvArray, "flush_cycles", property(lambda self: 2))
    dut = GemvArray(lanes=8, max_n=16, group=4)
    exp, st = run_reset_mid_job(dut, np.random.default_rng(7))
    assert [d for _, d, _ in st["ys"]] != list(exp)


@pytest.mark.parametrize("weight_bits", [8, 4])
def test_output_held_off_blocks_final_columns(weight_bits):
    """y_stream not ready for a long time: the array must stop before a tile's final column
    when the output FIFO (lanes + 4 entries) has no room for the whole tile, so nothing is
    lost or overwritten; the outputs are exact once the consumer starts."""
    dut = GemvArray(lanes=8, weight_bits=weight_bits, max_n=8, group=4)
    job = random_job(np.random.default_rng(3), 5 * 8, 3, weight_bits)
    got = {}

    async def tb_x(ctx):
        ctx.set(dut.m, job.W.shape[0])
        ctx.set(dut.n, job.W.shape[1])
        for v in job.x:
            await stream_put(ctx, dut.x_stream, int(v))

    async def tb_w(ctx):
        for beat in weight_beats(job.W, dut.lanes):
            await stream_put(ctx, dut.w_stream, [int(v) for v in beat])

    async def tb_y(ctx):
        await ctx.tick().repeat(300)          # every tile could have finished meanwhile
        got["y"] = [(await stream_get(ctx, dut.y_stream))["data"] for _ in range(job.W.shape[0])]

    run_simulation(dut, [tb_x, tb_w, tb_y], deadline_cycles=2000)
    assert got["y"] == list(gemv(job.W, job.x, weight_bits=weight_bits, acc_width=dut.acc_width))
