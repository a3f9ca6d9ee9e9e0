"""Softmax hardware vs the golden model in Amaranth's simulator (bit exact, stalls, cycles)."""

import numpy as np
import pytest

from attnkit.golden.fixed import FixedFormat
from attnkit.golden.quant import requant_params
from attnkit.golden.softmax import (SoftmaxConfig, exp2_frac, expected_payloads, make_rows,
                                    random_row_set, row_stages, split_stream_rows,
                                    stream_payloads)
from attnkit.hdl.exp2 import Exp2Frac
from attnkit.hdl.reciprocal import Reciprocal
from attnkit.hdl.softmax import Softmax
from attnkit.sim.streams import (STALL_CASES, Stalls, run_simulation, stream_recv,
                                 stream_send, stream_through_timed)

U16 = FixedFormat(False, 0, 16)


def random_rows(seed, cfg, l_max, n_rows):
    return random_row_set(seed, cfg, l_max, n_rows)


to_stream = stream_payloads
expected = expected_payloads


def simulate(dut, ins, n_out, seed, p_stall, deadline=None):
    got = []
    stalls = Stalls(seed, p_stall)

    async def tx(ctx):
        await stream_send(ctx, dut.i_stream, ins, stalls.fork(1))

    async def rx(ctx):
        got.extend(await stream_recv(ctx, dut.o_stream, n_out, stalls.fork(2)))

    run_simulation(dut, [tx, rx], deadline_cycles=deadline or (len(ins) * 6 + 4000))
    return got


def check(got, want, seed, p):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert a == b, f"element {i}: got {a}, want {b} (seed {seed}, stall p {p})"


@pytest.mark.parametrize("p", STALL_CASES)
@pytest.mark.parametrize("seed", range(10))
def test_bit_exact_random_rows(seed, p):
    cfg = SoftmaxConfig()
    dut = Softmax(cfg, l_max=48)
    rows = random_rows(seed, cfg, 48, 6)
    got = simulate(dut, to_stream(rows), sum(len(r[0]) for r in rows), seed, p)
    check(got, expected(rows, cfg), seed, p)


CONFIGS = {
    "u16_table8": SoftmaxConfig(out_fmt=U16, table_bits=8, degree=0),
    "u16_lerp5_E14_G4": SoftmaxConfig(out_fmt=U16, table_bits=5, degree=1, exp_frac_bits=14,
                                      sum_guard_bits=4),
    "u8_poly2": SoftmaxConfig(table_bits=0, degree=2),
    "u16_poly3x2": SoftmaxConfig(out_fmt=U16, table_bits=1, degree=3),
    "u1.7_s3.4_in8": SoftmaxConfig(in_fmt=FixedFormat(True, 3, 4),
                                   out_fmt=FixedFormat(False, 1, 7)),
    "u1.15_int8_in": SoftmaxConfig(in_fmt=FixedFormat.integer(8),
                                   out_fmt=FixedFormat(False, 1, 15), sum_guard_bits=0),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bit_exact_configs(name):
    cfg = CONFIGS[name]
    seed = sorted(CONFIGS).index(name) + 100
    dut = Softmax(cfg, l_max=33)
    rows = random_rows(seed, cfg, 33, 5)
    got = simulate(dut, to_stream(rows), sum(len(r[0]) for r in rows), seed, 0.3)
    check(got, expected(rows, cfg), seed, 0.3)


@pytest.mark.parametrize("p", STALL_CASES)
def test_bit_exact_int32_scores(p):
    cfg = SoftmaxConfig()
    req = requant_params(2.0 ** -22)
    dut = Softmax(cfg, l_max=20, score_requant=req)
    rng = np.random.default_rng(42)
    rows = []
    for i, L in enumerate((1, 20, 7, 13)):
        acc = rng.integers(-(1 << 31), 1 << 31, L) >> int(rng.integers(0, 12))
        rows.append((acc, rng.random(L) < (0.3 if i == 3 else 0.0)))
    got = simulate(dut, to_stream(rows), sum(len(r[0]) for r in rows), 42, p)
    check(got, expected(rows, cfg, req), 42, p)


def _max_order_rows(cfg):
    """Groups of rows that exercise every case of the look-ahead running max: each new
    element the largest (ascending), never the largest (descending), zig-zag, ties, a masked
    element larger than every live one, masked elements on either side of the maximum, and
    short rows back to back whose maxima fall or rise (1, 2 and 3 elements: the element at
    the compare stage then sees the previous row in the stages ahead of it). At most four
    rows per group, so the input never waits for the row queue and rows stay adjacent."""
    hi, lo = cfg.in_fmt.max_int, -cfg.in_fmt.max_int
    step = max(1, hi // 40)
    up = [lo + i * step for i in range(40)]
    groups = [
        [(up, [0] * 40), (up[::-1], [0] * 40),                       # ascending, descending
         ([up[i // 2] if i % 2 else up[-1 - i // 2] for i in range(40)], [0] * 40),
         ([7 * step] * 5 + [9 * step] * 5 + [9 * step] * 3, [0] * 13)],   # ties
        [([0, hi, 5 * step, hi, 3 * step], [0, 1, 0, 1, 0]),         # masked maxima
         ([hi, 2 * step, hi - step, 6 * step], [1, 0, 0, 1]),
         ([hi], [0]), ([lo], [0])],
        [([hi - step, hi], [0, 0]), ([lo + step, lo], [0, 0]),
         ([hi, lo, lo + step], [0, 0, 0]), ([lo, lo + step, lo], [0, 0, 0])],
        [([hi], [1]), ([lo + 2 * step], [0]), ([hi, hi], [1, 0]), ([lo], [0])],
        [([20 * step, 10 * step, 30 * step], [0, 0, 0]), ([lo, lo], [0, 1]),
         ([hi, 3 * step], [0, 0]), ([lo, lo + step], [0, 0])],      # rising after a higher row
        [([hi], [0]), ([lo, lo + step, lo + 2 * step], [0, 0, 0]),
         ([hi, 0], [0, 0]), ([lo, hi - step], [0, 0])],
    ]
    return [[(np.array(q, dtype=np.int64), np.array(mk, dtype=bool)) for q, mk in g]
            for g in groups]


@pytest.mark.parametrize("p", STALL_CASES)
def test_running_max_orderings(p):
    cfg = SoftmaxConfig()
    for rows in _max_order_rows(cfg):
        dut = Softmax(cfg, l_max=48)
        got = simulate(dut, to_stream(rows), sum(len(r[0]) for r in rows), 5, p)
        check(got, expected(rows, cfg), 5, p)


def test_rows_longer_than_l_max_are_cut():
    cfg = SoftmaxConfig()
    dut = Softmax(cfg, l_max=8)
    rng = np.random.default_rng(9)
    q, mk = make_rows(rng, "gauss_large", 1, 21, cfg, mask_p=0.2)
    lasts = [0] * 20 + [1]
    ins = [{"logit": int(v), "mask": int(b), "last": l} for v, b, l in zip(q[0], mk[0], lasts)]
    rows = split_stream_rows(q[0], mk[0], lasts, 8)
    assert [len(r[0]) for r in rows] == [8, 8, 5]
    got = simulate(dut, ins, 21, 9, 0.3)
    check(got, expected(rows, cfg), 9, 0.3)


def test_large_l_max():
    """l_max = 1024 (row buffers of ~1100 entries): rows of 1024, 1000 and 3 elements."""
    cfg = SoftmaxConfig(out_fmt=U16)
    dut = Softmax(cfg, l_max=1024)
    rng = np.random.default_rng(77)
    rows = []
    for d, L in (("gauss_large", 1024), ("dominant", 1000), ("uniform", 3)):
        q, mk = make_rows(rng, d, 1, L, cfg, mask_p=0.1)
        rows.append((q[0], mk[0]))
    got = simulate(dut, to_stream(rows), 2027, 77, 0.0)
    check(got, expected(rows, cfg), 77, 0.0)


@pytest.mark.parametrize("L,degree", [(64, 1), (100, 3), (29, 0)])
def test_cycle_count(L, degree):
    """N rows of length L, no stalls: the input never stalls, the output never gaps, and the
    whole stream takes at most N*L + 2*L + row_latency cycles (first input to last output)."""
    cfg = SoftmaxConfig(degree=degree, table_bits=0 if degree == 3 else 6)
    dut = Softmax(cfg, l_max=L)
    N = 5
    assert L >= dut.divider_interval
    rng = np.random.default_rng(L)
    rows = [(q, np.zeros(L, dtype=bool)) for q in make_rows(rng, "uniform", N, L, cfg)[0]]
    ins = to_stream(rows)
    acc_cycles, out_cycles, got = [], [], []

    async def bench(ctx):
        g, a, o = await stream_through_timed(ctx, dut.i_stream, dut.o_stream, ins)
        got.extend(g)
        acc_cycles.extend(a)
        out_cycles.extend(o)

    run_simulation(dut, [bench], deadline_cycles=20000)
    check(got, expected(rows, cfg), L, 0.0)
    assert acc_cycles[-1] - acc_cycles[0] + 1 == N * L          # input: one per cycle
    assert out_cycles[-1] - out_cycles[0] + 1 == N * L          # output: one per cycle
    assert out_cycles[0] - acc_cycles[0] == 2 * L + dut.row_latency
    assert out_cycles[-1] - acc_cycles[0] + 1 <= N * L + 2 * L + dut.row_latency


def _unelaborated(*args, **kw):
    """A Softmax only inspected for its attributes (silences the unused-elaboratable check)."""
    d = Softmax(*args, **kw)
    for obj in (d, d._exp, d._div):
        obj._MustUse__silence = True
    return d


def test_documented_latencies():
    """The figures the Softmax docstring states."""
    assert _unelaborated(SoftmaxConfig(), 4096).row_latency == 69
    assert _unelaborated(SoftmaxConfig(degree=0), 64).row_latency == 63
    assert _unelaborated(SoftmaxConfig(degree=3, table_bits=0), 64).row_latency == 77
    d = _unelaborated(SoftmaxConfig(), 64, score_requant=(3, 4))
    assert (d.input_latency, d.row_latency) == (13, 75)
    assert _unelaborated(SoftmaxConfig(), 4096).divider_interval == 31


def test_short_rows_rate():
    """Rows shorter than divider_interval: one row per divider_interval cycles."""
    cfg = SoftmaxConfig()
    dut = Softmax(cfg, l_max=8)
    rng = np.random.default_rng(4)
    rows = [(q, np.zeros(3, dtype=bool)) for q in make_rows(rng, "uniform", 6, 3, cfg)[0]]
    ins = to_stream(rows)
    out_cycles, got = [], []

    async def bench(ctx):
        cyc, i = 0, 0
        ctx.set(dut.o_stream.ready, 1)
        while len(got) < len(ins):
            ctx.set(dut.i_stream.valid, int(i < len(ins)))
            if i < len(ins):
                ctx.set(dut.i_stream.payload, ins[i])
            _, _, iv, ir, ov, pl = await ctx.tick().sample(
                dut.i_stream.valid, dut.i_stream.ready, dut.o_stream.valid, dut.o_stream.payload)
            i += int(iv and ir)
            if ov:
                out_cycles.append(cyc)
                got.append({"prob": int(pl.prob), "last": int(pl.last),
                            "all_masked": int(pl.all_masked)})
            cyc += 1

    run_simulation(dut, [bench], deadline_cycles=5000)
    check(got, expected(rows, cfg), 4, 0.0)
    firsts = out_cycles[::3]
    gaps = [b - a for a, b in zip(firsts[1:], firsts[2:])]
    assert gaps == [dut.divider_interval] * len(gaps), gaps


def test_exp2frac_unit():
    for cfg in (SoftmaxConfig(table_bits=3, degree=0), SoftmaxConfig(table_bits=2, degree=2)):
        dut = Exp2Frac(cfg)
        rng = np.random.default_rng(1)
        fs = [0, 65535, 1 << 15] + [int(v) for v in rng.integers(0, 1 << 16, 40)]
        want = exp2_frac(np.array(fs), cfg)
        got = []

        async def bench(ctx):
            for k in range(len(fs) + dut.latency):
                if k < len(fs):
                    ctx.set(dut.f, fs[k])
                await ctx.tick()
                if k + 1 >= dut.latency and len(got) < len(fs):
                    got.append(ctx.get(dut.p))

        run_simulation(dut, [bench], deadline_cycles=1000)
        assert got == [int(v) for v in want]


def test_reciprocal_unit():
    cfg = SoftmaxConfig()
    dut = Reciprocal(30)
    ss = [1, 2, 3, 1 << 26, (1 << 30) - 1, 12345678, (1 << 26) + 1]
    rows = np.zeros((len(ss), 1), dtype=np.int64)
    res = []

    async def bench(ctx):
        for s in ss:
            ctx.set(dut.s, s)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            n = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                n += 1
            res.append((ctx.get(dut.r), ctx.get(dut.z), n))
            await ctx.tick()

    run_simulation(dut, [bench], deadline_cycles=2000)
    for s, (r, z, n) in zip(ss, res):
        assert z == s.bit_length()
        assert r == ((1 << (z + 16)) // s + 1) >> 1
        assert n == dut.latency
    del rows, cfg


def test_row_stages_sum_matches_hardware_width():
    cfg = SoftmaxConfig()
    x = np.full((1, 256), 7)
    st = row_stages(x, None, cfg)
    assert int(st["s"][0]).bit_length() <= cfg.sum_width(256)


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(l_max=0), ValueError, "l_max must be in 1..16256, not 0"),
    (dict(l_max=16257), ValueError, "l_max must be in 1..16256, not 16257"),
    (dict(l_max=2.5), TypeError, "l_max must be an int, not 2.5"),
    (dict(cfg="default"), TypeError, "cfg must be a SoftmaxConfig, not 'default'"),
    (dict(cfg=SoftmaxConfig(in_fmt=FixedFormat(True, 11, 8))), ValueError,
     "cfg.in_fmt must be at most 18 bits wide"),
    (dict(score_requant=(70000, 3)), ValueError, "multiplier must be in"),
    (dict(score_requant=(7, 64)), ValueError, "shift must be in \\[0, 63\\], not 64"),
    (dict(score_requant=[7, 6]), TypeError, "score_requant must be a \\(multiplier, shift\\)"),
])
def test_constructor_errors(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        Softmax(**kw)
