"""Golden fixed-point softmax: accuracy against float64, masks, edge rows, parameters."""

import numpy as np
import pytest

from attnkit.golden.fixed import FixedFormat, round_shift
from attnkit.golden.quant import requant_params, requantize
from attnkit.golden.softmax import (DISTRIBUTIONS, LOG2E_Q, SoftmaxConfig, Y_FRAC,
                                    error_report, exp2_coefficients, exp2_frac, make_rows,
                                    row_stages, softmax_fixed, softmax_float, softmax_scores,
                                    split_stream_rows)
from tool_modules import load_tool

U8 = FixedFormat(False, 0, 8)
U16 = FixedFormat(False, 0, 16)
DEFAULT_8 = SoftmaxConfig()
DEFAULT_16 = SoftmaxConfig(out_fmt=U16)


def test_constants():
    assert LOG2E_Q == 94548
    assert abs(LOG2E_Q / 2 ** 16 - np.log2(np.e)) < 2 ** -17


@pytest.mark.parametrize("cfg", [DEFAULT_8, DEFAULT_16], ids=["u0.8", "u0.16"])
def test_default_accuracy_report(cfg):
    """Must-show: default configs vs float64, 12,000 rows of lengths 1..4096, 6 distributions."""
    r = error_report(cfg, rows=12_000, max_len=4096, seed=11)
    print(r)
    assert r["rows"] == 12_000
    if cfg.out_fmt.width == 8:
        assert r["max_abs_err_lsb"] <= 1.0
    else:
        assert r["max_abs_err_lsb"] * cfg.out_fmt.lsb <= 2.0 ** -12
    assert r["argmax_decisive_rows"] > 1000
    assert r["argmax_disagree"] == 0
    assert r["all_equal_max_err_lsb"] <= 1.0
    assert r["len1_values"] == [cfg.out_fmt.max_int]


def test_full_size_report_8bit():
    """The full 100,000-row report (vectorised; a few seconds)."""
    r = error_report(DEFAULT_8, rows=100_000, max_len=4096, seed=0, mask_p=0.05)
    assert r["rows"] == 100_000
    assert r["max_abs_err_lsb"] <= 1.0
    assert r["argmax_disagree"] == 0


def test_error_report_detects_a_broken_model():
    """The report is not vacuous: a 2-entry table (TB=0, D=0) is far outside the budget."""
    bad = SoftmaxConfig(out_fmt=U16, table_bits=0, degree=0)
    r = error_report(bad, rows=600, max_len=64, seed=1)
    assert r["max_abs_err_lsb"] > 1000


def test_length_one_and_all_equal():
    for cfg in (DEFAULT_8, DEFAULT_16, SoftmaxConfig(out_fmt=FixedFormat(False, 1, 7))):
        fmt = cfg.in_fmt
        for v in (fmt.min_int, 0, 1, fmt.max_int):
            p, flag = softmax_fixed(np.array([v]), None, cfg)
            assert not flag
            # 1.0 saturates to the maximum in u0.*; exact in u1.*
            assert p[0] == min(1 << cfg.out_fmt.frac_bits, cfg.out_fmt.max_int)
        for n in (2, 3, 7, 10, 100, 1000, 4096):
            p, _ = softmax_fixed(np.full(n, 123), None, cfg)
            assert np.all(p == p[0])
            assert abs(p[0] * cfg.out_fmt.lsb - 1.0 / n) <= cfg.out_fmt.lsb


def test_masks():
    rng = np.random.default_rng(3)
    x, _ = make_rows(rng, "gauss_large", 50, 37, DEFAULT_8)
    mask = rng.random(x.shape) < 0.4
    mask[7] = True                                       # one fully masked row
    p, full = softmax_fixed(x, mask, DEFAULT_8)
    assert np.all(p[mask] == 0)
    assert full[7] and not full[:7].any() and not full[8:].any()
    assert np.all(p[7] == 0)
    # masked elements do not influence the others: same as softmax of the kept ones
    for i in (0, 1, 2):
        keep = ~mask[i]
        q, _ = softmax_fixed(x[i][keep], None, DEFAULT_8)
        assert np.array_equal(p[i][keep], q)
    # masked values may be anything, even above the row max
    x2 = x.copy()
    x2[mask] = DEFAULT_8.in_fmt.max_int
    p2, _ = softmax_fixed(x2, mask, DEFAULT_8)
    assert np.array_equal(p, p2)


def test_fully_masked_row_no_division():
    with np.errstate(all="raise"):
        p, flag = softmax_fixed(np.array([1, 2, 3]), np.array([1, 1, 1]), DEFAULT_8)
    assert flag and list(p) == [0, 0, 0]


def test_float_reference():
    x = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
    ref = softmax_float(x, np.array([[0, 0], [0, 1]]))
    assert np.allclose(ref, [[0.25, 0.75], [1.0, 0.0]])
    assert np.array_equal(softmax_float(x, np.ones_like(x)), np.zeros_like(x))


def test_steps_follow_the_docstring():
    """Recompute steps 1-6 one element at a time with Python ints (independent loop)."""
    cfg = SoftmaxConfig(out_fmt=U16, table_bits=4, degree=2, sum_guard_bits=3)
    rng = np.random.default_rng(5)
    x, mask = make_rows(rng, "uniform", 1, 40, cfg, mask_p=0.2)
    st = row_stages(x, mask, cfg)
    c = exp2_coefficients(cfg)
    e, g, of, rb = cfg.exp_frac_bits, cfg.sum_guard_bits, cfg.out_fmt.frac_bits, cfg.remainder_bits
    ys = [(int(v) * LOG2E_Q + (1 << (cfg.in_fmt.frac_bits - 1))) >> cfg.in_fmt.frac_bits for v in x[0]]
    M = max(yv for yv, mk in zip(ys, mask[0]) if not mk)
    s = 0
    Ps, ns = [], []
    for yv, mk in zip(ys, mask[0]):
        d = M - yv
        n, f = min(d >> 16, 63), d & 0xFFFF
        k, r = f >> rb, f & ((1 << rb) - 1)
        a = int(c[k, 2])
        for j in (1, 0):
            a = int(c[k, j]) + ((a * r + (1 << (rb - 1))) >> rb)
        a = min(max(a, 0), 1 << e)
        Ps.append(a)
        ns.append(n)
        if not mk:
            s += a << (g - n) if n <= g else (a + (1 << (n - g - 1))) >> (n - g)
    assert s == st["s"][0]
    z = s.bit_length()
    R = ((1 << (z + 16)) // s + 1) >> 1
    assert R == st["R"][0] and 2 ** 15 <= R <= 2 ** 16
    for i, (P, n, mk) in enumerate(zip(Ps, ns, mask[0])):
        sh = z + 15 + n - g - of
        want = 0 if mk else min((P * R + (1 << (sh - 1))) >> sh, cfg.out_fmt.max_int)
        assert st["p"][0, i] == want


@pytest.mark.parametrize("tb,deg", [(10, 0), (6, 1), (0, 2), (0, 3), (0, 4), (3, 2)])
def test_exp2_methods(tb, deg):
    cfg = SoftmaxConfig(table_bits=tb, degree=deg)
    f = np.arange(0, 1 << Y_FRAC, 7, dtype=np.int64)
    P = exp2_frac(f, cfg)
    assert exp2_frac(np.array([0]), cfg)[0] == 1 << cfg.exp_frac_bits
    err = np.abs(P / 2 ** cfg.exp_frac_bits - np.exp2(-f / 2 ** Y_FRAC)).max()
    # loose analytic bounds per method (+ rounding): table, lerp, Taylor-ish polynomial
    bound = {0: np.log(2) * 2 ** -(tb + 1), 1: np.log(2) ** 2 / 8 * 4 ** -tb}.get(
        deg, np.log(2) ** (deg + 1) / 2 ** (deg + 1) * 2 ** -(tb * (deg + 1)))
    assert err <= bound + 2 ** -cfg.exp_frac_bits * deg + 2 ** -(cfg.exp_frac_bits + 1)


def test_more_accurate_methods_help_16bit():
    rs = {}
    for tb, deg in ((0, 2), (6, 1)):
        r = error_report(SoftmaxConfig(out_fmt=U16, table_bits=tb, degree=deg), rows=1200,
                         max_len=512, seed=2)
        rs[(tb, deg)] = r["max_abs_err_lsb"]
    assert rs[(6, 1)] < rs[(0, 2)]


def test_scores_input_matches_requantize():
    rng = np.random.default_rng(7)
    acc = rng.integers(-(1 << 31), 1 << 31, (20, 33))
    mult, shift = requant_params(2.0 ** -20)
    p, _ = softmax_scores(acc, mult, shift, None, DEFAULT_8)
    x = requantize(acc, mult, shift, out=DEFAULT_8.in_fmt)
    assert np.array_equal(p, softmax_fixed(x, None, DEFAULT_8)[0])
    with pytest.raises(ValueError, match="int32"):
        softmax_scores(np.array([1 << 31]), mult, shift)


def test_split_stream_rows():
    rows = split_stream_rows([1, 2, 3, 4, 5, 6, 7], [0] * 7, [0, 0, 0, 0, 1, 1, 0], 3)
    assert [list(r[0]) for r in rows] == [[1, 2, 3], [4, 5], [6]]


def test_make_rows_distributions():
    rng = np.random.default_rng(0)
    for d in DISTRIBUTIONS:
        q, _ = make_rows(rng, d, 4, 9, DEFAULT_8)
        DEFAULT_8.in_fmt.check(q)
    with pytest.raises(ValueError, match="dist must be one of"):
        make_rows(rng, "cauchy", 1, 1, DEFAULT_8)


def test_round_shift_identity_used_by_hardware():
    """sigma = round_shift(P << (G+1), n+1) and round_shift(v, s) = ((v >> (s-1)) + 1) >> 1."""
    P = np.arange(0, 1 << 17, 13, dtype=np.int64)
    for g in (0, 3, 10):
        for n in (0, 1, g, g + 1, 20, 40):
            want = P << (g - n) if n <= g else round_shift(P, n - g)
            t = (P << (g + 1)) >> n
            assert np.array_equal((t + 1) >> 1, want)


@pytest.mark.parametrize("kw,msg", [
    (dict(in_fmt=FixedFormat(False, 7, 8)), "in_fmt must be signed"),
    (dict(out_fmt=FixedFormat(False, 0, 12)), "out_fmt must be unsigned, 8 or 16"),
    (dict(out_fmt=FixedFormat(True, 0, 7)), "out_fmt must be unsigned"),
    (dict(table_bits=13), "table_bits must be in 0..12, not 13"),
    (dict(degree=5), "degree must be in 0..4, not 5"),
    (dict(exp_frac_bits=17), "exp_frac_bits must be in 8..16, not 17"),
    (dict(sum_guard_bits=-1), "sum_guard_bits must be in 0..16, not -1"),
    (dict(table_bits=11, degree=1), "table_bits must be <= 10 with degree >= 1, not 11"),
])
def test_config_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        SoftmaxConfig(**kw)


def test_config_type_errors():
    with pytest.raises(TypeError, match="degree must be an int, not 1.0"):
        SoftmaxConfig(degree=1.0)
    with pytest.raises(TypeError, match="in_fmt must be a FixedFormat"):
        SoftmaxConfig(in_fmt=(True, 7, 8))


def test_budget_tool_writes_json_markdown_plot(tmp_path, capsys):
    import json
    tool = load_tool("softmax_budget")
    stem = tmp_path / "b"
    assert tool.main(["--rows", "240", "--max-len", "64", "--out-bits", "16",
                      "--methods", "6:1", "0:2", "--out", str(stem)]) == 0
    doc = json.loads(stem.with_suffix(".json").read_text())
    assert doc["schema"] == "attnkit.softmax_budget/1" and len(doc["entries"]) == 2
    lerp, poly = doc["entries"]
    assert lerp["method"] == "lerp 64" and poly["method"] == "poly2"
    assert lerp["accuracy"]["rows"] == 240 and lerp["synth"] is None
    # the sweep reports what the golden model gives: lerp 64 beats a global quadratic
    assert lerp["accuracy"]["max_abs_err_lsb"] < poly["accuracy"]["max_abs_err_lsb"]
    md = stem.with_suffix(".md").read_text()
    assert "| u0.16 | lerp 64 | 16 | 10 |" in md and "| u0.16 | poly2 |" in md
    assert stem.with_suffix(".png").stat().st_size > 1000
    with pytest.raises(SystemExit, match="TB:D"):
        tool.main(["--methods", "six", "--out", str(stem)])
    assert tool.main(["--methods", "11:1", "--rows", "6", "--out", str(stem)]) == 2
    assert "table_bits must be <= 10 with degree >= 1, not 11" in capsys.readouterr().err


def test_config_dict_round_trip():
    from attnkit.golden.softmax import config_from_dict, config_to_dict
    cfg = SoftmaxConfig(in_fmt=FixedFormat(True, 3, 4), out_fmt=FixedFormat(False, 1, 15),
                        table_bits=2, degree=3, exp_frac_bits=12, sum_guard_bits=4)
    assert config_from_dict(config_to_dict(cfg)) == cfg
