"""Bit-exact fixed-point softmax: the specification of :mod:`attnkit.hdl.softmax`.

One row of logits ``x[0..N-1]`` (with optional mask bits) becomes probabilities
``p[0..N-1]`` in an unsigned fixed-point format. Every step below is an exact integer
operation; the only rounding points are the numbered ones, and every rounding is the
project's round-half-up :func:`~attnkit.golden.fixed.round_shift`.

Formats and constants
---------------------
* input logit ``x``: ``cfg.in_fmt``, signed, ``F = in_fmt.frac_bits >= 0`` fraction bits.
  (Or int32 scores ``acc`` with a requantization ``(multiplier, shift)``, step 0.)
* ``y``: ``x * log2(e)`` with :data:`Y_FRAC` (16) fraction bits, signed.
* exponent fraction ``P``: value ``2**-f`` in ``(0.5, 1]`` with ``E = cfg.exp_frac_bits``
  fraction bits (``P <= 2**E``, 17 bits unsigned for ``E = 16``).
* sum ``s``: ``E + G`` fraction bits (``G = cfg.sum_guard_bits``), unsigned, exact.
* reciprocal ``R``: 17-bit unsigned mantissa in ``[2**15, 2**16]`` plus the row exponent
  ``z = bit_length(s)`` (``P * R`` is one signed 18x18 DSP product).
* output ``p``: ``cfg.out_fmt`` (unsigned, 8 or 16 bits, ``OF`` fraction bits). With
  ``int_bits = 0`` (default, ``u0.8``/``u0.16``) the value 1.0 is not representable and
  saturates to the format's maximum ``(2**OF - 1) / 2**OF``; with ``int_bits = 1``
  (``u1.7``/``u1.15``) 1.0 is exact.

Mask convention: ``mask = 1`` means *masked out*: the element takes no part in the max or
the sum, and its probability is exactly 0.

Steps (per row; ``rs`` = ``round_shift``, ``>>`` = arithmetic shift, floor)
--------------------------------------------------------------------------------
0. (int32 scores only) ``x = clamp(rs(acc * multiplier, shift), -max, +max)`` of ``in_fmt``
   -- exactly :func:`attnkit.golden.quant.requantize`. **Rounding 0.**
1. ``y = rs(x * LOG2E_Q, F)`` with ``LOG2E_Q = round(log2(e) * 2**16) = 94548`` (17-bit
   constant; ``x * LOG2E_Q`` is one 18x18 DSP product for a 16-bit ``x``). **Rounding 1.**
2. ``M = max(y)`` over unmasked elements (exact). ``d = M - y >= 0`` (exact),
   ``n = min(d >> 16, 63)`` (integer part; the clamp never changes a result, any
   ``n >= 36`` already gives 0 below), ``f = d & 0xFFFF`` (fraction, 16 bits).
3. ``P ~ 2**E * 2**(-f / 2**16)``, a piecewise polynomial with ``2**TB`` segments of
   degree ``D`` (``TB = cfg.table_bits``, ``D = cfg.degree``), ``RB = 16 - TB``:

   * ``D = 0`` (plain table): ``k = rs(f, RB)`` in ``[0, 2**TB]``, ``P = T[k]`` with
     ``T[k] = round(2**E * 2**(-k / 2**TB))`` (``2**TB + 1`` entries). **Rounding 3.**
   * ``D >= 1``: ``k = f >> RB``, ``r = f & (2**RB - 1)``; integer coefficients
     ``C[k][0..D]`` (:func:`exp2_coefficients`), Horner evaluation
     ``a = C[k][D]; for j = D-1..0: a = C[k][j] + rs(a * r, RB)``; **Rounding 3** (``D``
     times). ``D = 1`` is linear interpolation between table points (``C[k][0] = T[k]``,
     ``C[k][1] = T[k+1] - T[k]``); ``D >= 2`` is a per-segment least-squares polynomial
     anchored at ``C[k][0] = T[k]`` (``TB = 0``: one global polynomial, I-BERT style).
     Then ``P = clamp(a, 0, 2**E)``.

   ``f = 0`` (the row maximum) always gives ``P = 2**E`` exactly (1.0).
4. Sum term ``sigma = P << (G - n)`` if ``n <= G`` (exact) else ``rs(P, n - G)``.
   **Rounding 4.** ``s = sum(sigma)`` over unmasked elements (exact integer sum, order
   independent). ``s >= 2**(E+G)`` whenever one element is unmasked.
5. ``z = bit_length(s)``; ``R = rs((2**(z + 16)) // s, 1)`` -- exact integer division
   (a restoring divider, 18 quotient bits, in hardware) and one round-half-up.
   **Rounding 5.** ``R`` is in ``[2**15, 2**16]``.
6. ``p = min(rs(P * R, z + 15 + n - G - OF), out_fmt.max_int)``; masked elements give 0.
   **Rounding 6** (the final one) and saturation (only ``p = 1.0`` in a ``u0.*`` format
   saturates).

A fully masked row gives ``p = 0`` for every element and sets the row's ``all_masked`` flag;
step 5 is skipped (no division by zero). A row of length 1 gives exactly 1.0 (``u1.*``) or
the format maximum (``u0.*``); a row of ``N`` equal logits gives ``round(1/N)`` within 1 LSB.

Error sources, for the budget (relative to the row's float64 softmax): the ``LOG2E_Q``
constant (``< 2**-17`` relative in the exponent), rounding 1 (``2**-17`` in ``y``), the
exponent approximation (method dependent: see ``tools/softmax_budget.py``), rounding 4
(``<= N * 2**-(E+G+1)`` absolute on ``s >= 1``), rounding 5 (``2**-16`` relative) and
rounding 6 (half an output LSB).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fixed import FixedFormat, round_shift
from .quant import requantize

__all__ = ["SoftmaxConfig", "Y_FRAC", "LOG2E_Q", "N_CLAMP", "exp2_coefficients",
           "softmax_fixed", "softmax_scores", "softmax_float", "softmax_rows",
           "split_stream_rows", "row_stages", "error_report", "make_rows", "DISTRIBUTIONS",
           "random_row_set", "stream_payloads", "expected_payloads", "config_to_dict",
           "config_from_dict", "BUDGET_METHODS", "budget_configs", "budget_markdown",
           "method_name"]

#: Fraction bits of ``y = x * log2(e)`` and of the exponent argument ``d``.
Y_FRAC = 16
#: ``round(log2(e) * 2**16)``.
LOG2E_Q = int(np.floor(np.log2(np.e) * 2 ** 16 + 0.5))
#: Clamp of the integer part ``n`` of the exponent argument (6 bits in hardware).
N_CLAMP = 63
#: Reciprocal mantissa fraction bits: ``R`` is in ``[2**R_BITS, 2**(R_BITS+1)]``.
R_BITS = 15


@dataclass(frozen=True)
class SoftmaxConfig:
    """Parameters of the fixed-point softmax (golden model and hardware).

    Parameters
    ----------
    in_fmt : FixedFormat
        Signed logit format, ``frac_bits >= 0``, width 2..24 (default ``s7.8``, 16 bits).
    out_fmt : FixedFormat
        Unsigned probability format of width 8 or 16 with ``int_bits`` 0 or 1
        (default ``u0.8``).
    table_bits : int
        ``TB``, log2 of the number of exponent segments, 0..12 (default 6).
    degree : int
        ``D``, polynomial degree per segment: 0 = plain table, 1 = linear interpolation,
        2..4 = polynomial (default 1).
    exp_frac_bits : int
        ``E``, fraction bits of the exponent value ``P``, 8..16 (default 16).
    sum_guard_bits : int
        ``G``, extra fraction bits of the row sum, 0..16 (default 10).
    """

    in_fmt: FixedFormat = field(default_factory=lambda: FixedFormat(True, 7, 8))
    out_fmt: FixedFormat = field(default_factory=lambda: FixedFormat(False, 0, 8))
    table_bits: int = 6
    degree: int = 1
    exp_frac_bits: int = 16
    sum_guard_bits: int = 10

    def __post_init__(self):
        if not isinstance(self.in_fmt, FixedFormat):
            raise TypeError(f"in_fmt must be a FixedFormat, not {self.in_fmt!r}")
        if not isinstance(self.out_fmt, FixedFormat):
            raise TypeError(f"out_fmt must be a FixedFormat, not {self.out_fmt!r}")
        if not self.in_fmt.signed or self.in_fmt.frac_bits < 0 or not 2 <= self.in_fmt.width <= 24:
            raise ValueError(f"in_fmt must be signed with frac_bits >= 0 and width 2..24, "
                             f"not {self.in_fmt}")
        if (self.out_fmt.signed or self.out_fmt.width not in (8, 16)
                or self.out_fmt.int_bits not in (0, 1)):
            raise ValueError(f"out_fmt must be unsigned, 8 or 16 bits wide, int_bits 0 or 1, "
                             f"not {self.out_fmt}")
        for name, lo, hi in (("table_bits", 0, 12), ("degree", 0, 4),
                             ("exp_frac_bits", 8, 16), ("sum_guard_bits", 0, 16)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int, not {v!r}")
            if not lo <= v <= hi:
                raise ValueError(f"{name} must be in {lo}..{hi}, not {v!r}")
        if self.degree >= 1 and self.table_bits > 10:
            raise ValueError(f"table_bits must be <= 10 with degree >= 1, not {self.table_bits!r}")

    # Derived widths -------------------------------------------------------------------
    @property
    def remainder_bits(self) -> int:
        """``RB = 16 - TB``: bits of the in-segment offset ``r``."""
        return Y_FRAC - self.table_bits

    @property
    def y_width(self) -> int:
        """Signed width of ``y = x * log2(e)`` (Y_FRAC fraction bits)."""
        return 1 + self.in_fmt.int_bits + 1 + Y_FRAC

    def sum_width(self, l_max: int) -> int:
        """Unsigned width of the row sum for rows up to ``l_max`` elements."""
        return (int(l_max) << (self.exp_frac_bits + self.sum_guard_bits)).bit_length()

    def describe(self) -> str:
        meth = {0: f"table {2 ** self.table_bits + 1}", 1: f"lerp {2 ** self.table_bits}"}.get(
            self.degree, f"poly{self.degree} x{2 ** self.table_bits}")
        return (f"in {self.in_fmt}, out {self.out_fmt}, exp {meth} E={self.exp_frac_bits}, "
                f"G={self.sum_guard_bits}")


def config_to_dict(cfg: SoftmaxConfig) -> dict:
    """JSON-ready form of a config (formats as ``[signed, int_bits, frac_bits]``)."""
    return {"in_fmt": [cfg.in_fmt.signed, cfg.in_fmt.int_bits, cfg.in_fmt.frac_bits],
            "out_fmt": [cfg.out_fmt.signed, cfg.out_fmt.int_bits, cfg.out_fmt.frac_bits],
            "table_bits": cfg.table_bits, "degree": cfg.degree,
            "exp_frac_bits": cfg.exp_frac_bits, "sum_guard_bits": cfg.sum_guard_bits}


def config_from_dict(d: dict) -> SoftmaxConfig:
    """Inverse of :func:`config_to_dict`."""
    d = dict(d)
    d["in_fmt"] = FixedFormat(*d["in_fmt"])
    d["out_fmt"] = FixedFormat(*d["out_fmt"])
    return SoftmaxConfig(**d)


def _table(cfg: SoftmaxConfig, entries: int) -> np.ndarray:
    k = np.arange(entries, dtype=np.float64)
    return np.floor(np.exp2(cfg.exp_frac_bits - k / 2 ** cfg.table_bits) + 0.5).astype(np.int64)


def exp2_coefficients(cfg: SoftmaxConfig) -> np.ndarray:
    """Integer coefficients ``C[k, j]`` of the exponent approximation (step 3).

    Shape ``(2**TB + 1, 1)`` for ``D = 0``, else ``(2**TB, D + 1)``; units ``2**-E``, the
    polynomial variable is ``r / 2**RB`` in ``[0, 1)``. Deterministic (a fixed least-squares
    fit on a fixed grid, then round half up).
    """
    tb, deg, e = cfg.table_bits, cfg.degree, cfg.exp_frac_bits
    if deg == 0:
        return _table(cfg, 2 ** tb + 1)[:, None]
    t = _table(cfg, 2 ** tb + 1)
    seg = 2 ** tb
    c = np.zeros((seg, deg + 1), dtype=np.int64)
    c[:, 0] = t[:-1]
    if deg == 1:
        c[:, 1] = t[1:] - t[:-1]
        return c
    # anchored least squares on a Chebyshev-like grid: c0 fixed, fit c1..cD
    u = (1 - np.cos(np.linspace(0, np.pi, 257))) / 2          # [0, 1]
    basis = np.stack([u ** j for j in range(1, deg + 1)], axis=1)
    for k in range(seg):
        target = np.exp2(e - (k + u) / seg) - c[k, 0]
        coef, *_ = np.linalg.lstsq(basis, target, rcond=None)
        c[k, 1:] = np.floor(coef + 0.5).astype(np.int64)
    return c


def _rshift_var(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``round_shift`` with an elementwise shift ``s >= 1`` (clamped to 62)."""
    s = np.minimum(s, 62).astype(np.int64)
    return (x + (np.int64(1) << (s - 1))) >> s


def _bit_length(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    z = np.zeros(a.shape, dtype=np.int64)
    for b in range(63):
        z += (a >> b) > 0
    return z


def exp2_frac(f: np.ndarray, cfg: SoftmaxConfig, coeffs: np.ndarray | None = None) -> np.ndarray:
    """Step 3: ``P`` for 16-bit fractions ``f`` (array of int64 in ``[0, 2**16)``)."""
    c = exp2_coefficients(cfg) if coeffs is None else coeffs
    rb = cfg.remainder_bits
    f = np.asarray(f, dtype=np.int64)
    if cfg.degree == 0:
        return c[round_shift(f, rb), 0]
    k = f >> rb
    r = f & ((1 << rb) - 1)
    a = c[k, cfg.degree]
    for j in range(cfg.degree - 1, -1, -1):
        a = c[k, j] + round_shift(a * r, rb)
    return np.clip(a, 0, 1 << cfg.exp_frac_bits)


def row_stages(x, mask=None, cfg: SoftmaxConfig = SoftmaxConfig(), coeffs=None) -> dict:
    """All intermediate values of steps 1-6 for a batch of equal-length rows.

    ``x``: int codes, shape ``(rows, N)``; ``mask``: bool/0-1 of the same shape or None.
    Returns a dict of int64 arrays: ``y, M, n, f, P, sigma, s, z, R, p`` and the bool
    ``all_masked`` (one per row).
    """
    x = cfg.in_fmt.check(np.atleast_2d(np.asarray(x)), "x")
    if x.shape[1] == 0:
        raise ValueError("rows must have at least one element")
    mask = np.zeros(x.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    if mask.ndim == 1 and x.shape[0] == 1:
        mask = mask[None, :]
    if mask.shape != x.shape:
        raise ValueError(f"mask shape {mask.shape} does not match x shape {x.shape}")
    g, of = cfg.sum_guard_bits, cfg.out_fmt.frac_bits
    y = round_shift(x * LOG2E_Q, cfg.in_fmt.frac_bits)                           # rounding 1
    all_masked = mask.all(axis=1)
    ymin = np.int64(-(1 << 62))
    M = np.where(mask, ymin, y).max(axis=1)
    M = np.where(all_masked, 0, M)
    d = np.where(mask, 0, M[:, None] - y)
    n = np.minimum(d >> Y_FRAC, N_CLAMP)
    f = d & ((1 << Y_FRAC) - 1)
    P = exp2_frac(f, cfg, coeffs)                                                  # rounding 3
    sigma = np.where(n <= g, P << np.maximum(g - n, 0), _rshift_var(P, np.maximum(n - g, 1)))
    sigma = np.where(mask, 0, sigma)                                               # rounding 4
    s = sigma.sum(axis=1)
    z = _bit_length(s)
    safe_s = np.where(all_masked, 1, s)
    R = ((np.int64(1) << (z + R_BITS + 1)) // safe_s + 1) >> 1                     # rounding 5
    R = np.where(all_masked, 0, R)
    sh = z[:, None] + R_BITS + n - g - of
    p = np.minimum(_rshift_var(P * R[:, None], sh), cfg.out_fmt.max_int)           # rounding 6
    p = np.where(mask | all_masked[:, None], 0, p)
    return dict(y=y, M=M, n=n, f=f, P=P, sigma=sigma, s=s, z=z, R=R, p=p, all_masked=all_masked)


def softmax_fixed(x, mask=None, cfg: SoftmaxConfig = SoftmaxConfig(), coeffs=None):
    """Bit-exact softmax of equal-length rows.

    Returns ``(p, all_masked)``: ``p`` int64 codes of ``cfg.out_fmt`` with the shape of
    ``x`` (a 1-D ``x`` is one row and gives 1-D ``p`` and a scalar flag).
    """
    one = np.asarray(x).ndim == 1
    st = row_stages(x, mask, cfg, coeffs)
    if one:
        return st["p"][0], bool(st["all_masked"][0])
    return st["p"], st["all_masked"]


def softmax_scores(acc, multiplier: int, shift: int, mask=None,
                   cfg: SoftmaxConfig = SoftmaxConfig(), coeffs=None):
    """Softmax of int32 scores: step 0 (requantization into ``cfg.in_fmt``), then steps 1-6."""
    acc = np.asarray(acc)
    if acc.dtype.kind not in "iu":
        raise TypeError(f"acc must be integer, not {acc.dtype}")
    if acc.size and (acc.min() < -(1 << 31) or acc.max() >= 1 << 31):
        raise ValueError("acc must fit int32")
    x = requantize(acc, multiplier, shift, out=cfg.in_fmt)                         # rounding 0
    return softmax_fixed(x, mask, cfg, coeffs)


def softmax_rows(rows, masks=None, cfg: SoftmaxConfig = SoftmaxConfig(), coeffs=None):
    """Ragged rows (a list of 1-D arrays): list of ``(p, all_masked)``, one per row.

    Rows are padded with masked elements and batched by length (padding does not change
    any result: masked elements take no part in the max or the sum).
    """
    coeffs = exp2_coefficients(cfg) if coeffs is None else coeffs
    out = []
    for i, r in enumerate(rows):
        m = None if masks is None else masks[i]
        p, flag = softmax_fixed(np.asarray(r, dtype=np.int64), m, cfg, coeffs)
        out.append((np.asarray(p), bool(flag)))
    return out


def split_stream_rows(logits, masks, lasts, l_max: int):
    """How the hardware cuts a stream into rows: at ``last``, or after ``l_max`` elements.

    Returns a list of ``(logits, masks)`` per row (a trailing row without ``last`` is
    incomplete and not returned).
    """
    rows, cur_x, cur_m = [], [], []
    for x, m, last in zip(logits, masks, lasts):
        cur_x.append(int(x))
        cur_m.append(int(m))
        if last or len(cur_x) == l_max:
            rows.append((np.array(cur_x, dtype=np.int64), np.array(cur_m, dtype=bool)))
            cur_x, cur_m = [], []
    return rows


# Float reference and error report ------------------------------------------------------

def softmax_float(x_values, mask=None) -> np.ndarray:
    """float64 softmax over the last axis; masked elements 0; fully masked rows all 0."""
    x = np.atleast_2d(np.asarray(x_values, dtype=np.float64))
    mask = np.zeros(x.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    xm = np.where(mask, -np.inf, x)
    mx = xm.max(axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    ex = np.where(mask, 0.0, np.exp(xm - mx))
    ssum = ex.sum(axis=1, keepdims=True)
    return ex / np.where(ssum > 0, ssum, 1.0)


DISTRIBUTIONS = ("uniform", "gauss_small", "gauss_large", "dominant", "all_equal", "extremes")


def make_rows(rng: np.random.Generator, dist: str, rows: int, length: int,
              cfg: SoftmaxConfig, mask_p: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Random logit codes ``(rows, length)`` of one distribution, plus a random mask."""
    fmt = cfg.in_fmt
    span = min(fmt.max_value, 16.0)
    shape = (rows, length)
    if dist == "uniform":
        v = rng.uniform(-span, span, shape)
    elif dist == "gauss_small":
        v = rng.normal(0.0, 0.5, shape) + rng.uniform(-span / 2, span / 2, (rows, 1))
    elif dist == "gauss_large":
        v = rng.normal(0.0, span / 2, shape)
    elif dist == "dominant":
        v = rng.normal(-span / 4, 1.0, shape)
        idx = rng.integers(0, length, rows)
        v[np.arange(rows), idx] = rng.uniform(0.0, span, rows)
    elif dist == "all_equal":
        v = np.repeat(rng.uniform(fmt.min_value, fmt.max_value, (rows, 1)), length, axis=1)
    elif dist == "extremes":
        choice = rng.integers(0, 4, shape)
        v = np.choose(choice, [np.full(shape, fmt.min_value), np.full(shape, fmt.max_value),
                               np.full(shape, fmt.max_value - fmt.lsb),
                               rng.uniform(fmt.min_value, fmt.max_value, shape)])
    else:
        raise ValueError(f"dist must be one of {DISTRIBUTIONS}, not {dist!r}")
    q = fmt.from_float(v)
    mask = rng.random(shape) < mask_p if mask_p > 0 else np.zeros(shape, dtype=bool)
    return q, mask


def random_row_set(seed: int, cfg: SoftmaxConfig, max_len: int, n_rows: int) -> list:
    """A seeded list of ``(codes, mask)`` rows for simulation tests.

    ``n_rows`` rows of random lengths in ``1..max_len`` (1 and ``max_len`` always present,
    most powers of two replaced by 3), cycling through :data:`DISTRIBUTIONS`, every third
    row with 25 % masked elements, plus one fully masked row in the middle.
    """
    rng = np.random.default_rng(seed)
    lens = [1, max_len] + [int(v) for v in rng.integers(1, max_len + 1, max(n_rows - 2, 0))]
    lens = [3 if L in (2, 4, 8, 16, 32) and i % 2 else L for i, L in enumerate(lens)]
    rows = []
    for i, L in enumerate(lens[:max(n_rows, 2)]):
        q, mk = make_rows(rng, DISTRIBUTIONS[(seed + i) % len(DISTRIBUTIONS)], 1, L, cfg,
                          mask_p=0.25 if i % 3 == 2 else 0.0)
        rows.append((q[0], mk[0]))
    q, _ = make_rows(rng, "uniform", 1, min(5, max_len), cfg)
    rows.insert(len(rows) // 2, (q[0], np.ones(q.shape[1], dtype=bool)))
    return rows


def stream_payloads(rows) -> list:
    """Input payload dicts ``{logit, mask, last}`` for a list of ``(codes, mask)`` rows."""
    out = []
    for q, mk in rows:
        for i, (v, b) in enumerate(zip(q, mk)):
            out.append({"logit": int(v), "mask": int(b), "last": int(i == len(q) - 1)})
    return out


def expected_payloads(rows, cfg: SoftmaxConfig, score_requant=None) -> list:
    """Output payload dicts ``{prob, last, all_masked}`` the hardware must produce."""
    out = []
    coeffs = exp2_coefficients(cfg)
    for q, mk in rows:
        if score_requant is None:
            p, flag = softmax_fixed(q, mk, cfg, coeffs)
        else:
            p, flag = softmax_scores(q, score_requant[0], score_requant[1], mk, cfg, coeffs)
        for i, v in enumerate(p):
            out.append({"prob": int(v), "last": int(i == len(q) - 1), "all_masked": int(flag)})
    return out


def error_report(cfg: SoftmaxConfig = SoftmaxConfig(), rows: int = 100_000, max_len: int = 4096,
                 seed: int = 0, mask_p: float = 0.0, batch_elems: int = 4_000_000,
                 progress=None) -> dict:
    """Fixed point vs float64 over ``rows`` random rows (all :data:`DISTRIBUTIONS`).

    Row lengths are drawn from 96 geometrically spaced values in ``1..max_len`` (log-uniform;
    1 and ``max_len`` always included). Returns a JSON-ready dict: ``max_abs_err_lsb``,
    ``max_abs_err_lsb_vs_saturated_ref`` (the reference clamped to the format maximum, so
    the unavoidable 1.0 -> max saturation of ``u0.*`` formats is not counted), ``rmse_lsb``,
    ``argmax_agree``
    (fraction over rows whose top two float probabilities differ by more than 1 LSB, plus the
    count of such rows and of disagreements), ``argmax_agree_all``, ``sum_err_lsb_max``
    (``|sum(p) - 1|`` in LSBs, fully masked rows excluded), per-distribution maxima and
    ``all_equal_max_err_lsb``, ``len1_values``.
    """
    rng = np.random.default_rng(seed)
    coeffs = exp2_coefficients(cfg)
    lsb = cfg.out_fmt.lsb
    top = cfg.out_fmt.max_value
    lengths = np.unique(np.floor(np.geomspace(1, max_len, 96) + 0.5).astype(np.int64))
    per_dist = rows // len(DISTRIBUTIONS)
    acc = dict(rows=0, se=0.0, cnt=0, maxerr=0.0, maxerr_ns=0.0, decisive=0, agree=0,
               agree_all=0, summax=0.0, eqmax=0.0, len1=set())
    dist_max = {}
    for di, dist in enumerate(DISTRIBUTIONS):
        nrows = per_dist + (rows - per_dist * len(DISTRIBUTIONS) if di == 0 else 0)
        lens = rng.choice(lengths, nrows)
        lens[:min(2, nrows)] = [1, max_len][:min(2, nrows)]
        dmax = 0.0
        for L in np.unique(lens):
            cnt = int((lens == L).sum())
            step = max(1, batch_elems // int(L))
            for start in range(0, cnt, step):
                b = min(step, cnt - start)
                q, mask = make_rows(rng, dist, b, int(L), cfg, mask_p)
                p, full = softmax_fixed(q, mask, cfg, coeffs)
                ref = softmax_float(cfg.in_fmt.to_float(q), mask)
                pv = p * lsb
                err = np.abs(pv - ref) / lsb
                e_row = err.max(axis=1)
                dmax = max(dmax, float(e_row.max()))
                acc["maxerr_ns"] = max(acc["maxerr_ns"], float(
                    (np.abs(pv - np.minimum(ref, top)) / lsb).max()))
                acc["se"] += float((err ** 2).sum())
                acc["cnt"] += err.size
                live = ~full
                if live.any():
                    acc["summax"] = max(acc["summax"], float(np.abs(
                        p[live].sum(axis=1) * lsb - 1.0).max() / lsb))
                if L > 1:
                    top2 = -np.partition(-ref, 1, axis=1)[:, :2]
                else:
                    top2 = np.hstack([ref, np.zeros((b, 1))])
                dec = live & (top2[:, 0] - top2[:, 1] > lsb)
                am_f = np.argmax(ref, axis=1)
                am_q = np.argmax(p, axis=1)
                acc["decisive"] += int(dec.sum())
                acc["agree"] += int((dec & (am_f == am_q)).sum())
                acc["agree_all"] += int((live & (am_f == am_q)).sum() + (~live).sum())
                acc["rows"] += b
                if dist == "all_equal":
                    acc["eqmax"] = max(acc["eqmax"], float(e_row.max()))
                if L == 1:
                    acc["len1"].update(int(v) for v in p[live, 0])
            if progress:
                progress(dist, int(L), acc["rows"])
        dist_max[dist] = dmax
        acc["maxerr"] = max(acc["maxerr"], dmax)
    return {
        "config": {"in_fmt": str(cfg.in_fmt), "out_fmt": str(cfg.out_fmt),
                   "table_bits": cfg.table_bits, "degree": cfg.degree,
                   "exp_frac_bits": cfg.exp_frac_bits, "sum_guard_bits": cfg.sum_guard_bits},
        "rows": acc["rows"], "max_len": max_len, "seed": seed, "mask_p": mask_p,
        "max_abs_err_lsb": acc["maxerr"],
        "max_abs_err_lsb_vs_saturated_ref": acc["maxerr_ns"],
        "rmse_lsb": float(np.sqrt(acc["se"] / max(acc["cnt"], 1))),
        "argmax_decisive_rows": acc["decisive"],
        "argmax_disagree": acc["decisive"] - acc["agree"],
        "argmax_agree": acc["agree"] / max(acc["decisive"], 1),
        "argmax_agree_all": acc["agree_all"] / max(acc["rows"], 1),
        "sum_err_lsb_max": acc["summax"],
        "all_equal_max_err_lsb": acc["eqmax"],
        "len1_values": sorted(acc["len1"]),
        "per_distribution_max_err_lsb": dist_max,
    }


# Error budget sweep (used by tools/softmax_budget.py) -----------------------------------

#: Exponent methods swept by default: ``(table_bits, degree)``.
BUDGET_METHODS = ((6, 0), (8, 0), (10, 0), (12, 0), (3, 1), (4, 1), (5, 1), (6, 1), (8, 1),
                  (0, 2), (0, 3), (0, 4), (2, 2), (4, 2))


def budget_configs(out_bits=(8, 16), methods=BUDGET_METHODS, exp_frac_bits=(16,),
                   sum_guard_bits=(10,), in_fmt: FixedFormat | None = None) -> list:
    """The cross product of output widths, exponent methods and internal widths."""
    in_fmt = in_fmt or FixedFormat(True, 7, 8)
    out = []
    for ob in out_bits:
        for tb, deg in methods:
            for e in exp_frac_bits:
                for g in sum_guard_bits:
                    out.append(SoftmaxConfig(in_fmt=in_fmt, out_fmt=FixedFormat(False, 0, ob),
                                             table_bits=tb, degree=deg, exp_frac_bits=e,
                                             sum_guard_bits=g))
    return out


def method_name(cfg: SoftmaxConfig) -> str:
    if cfg.degree == 0:
        return f"table {2 ** cfg.table_bits + 1}"
    if cfg.degree == 1:
        return f"lerp {2 ** cfg.table_bits}"
    if cfg.table_bits == 0:
        return f"poly{cfg.degree}"
    return f"poly{cfg.degree} x{2 ** cfg.table_bits}"


def budget_markdown(entries: list) -> str:
    """Markdown table of budget entries (dicts with ``config``, ``accuracy``, ``synth``)."""
    lines = ["| out | exp method | E | G | max err (LSB) | max err vs sat. ref (LSB) | RMSE (LSB) "
             "| argmax agree (decisive rows) | LUT4 | FF | DSP | EBR | Fmax (MHz) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for en in entries:
        c, a, s = en["config"], en["accuracy"], en.get("synth") or {}
        cfg = config_from_dict(c)

        def g(k):
            v = s.get(k)
            return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
        lines.append(
            f"| {cfg.out_fmt} | {method_name(cfg)} | {cfg.exp_frac_bits} | {cfg.sum_guard_bits} "
            f"| {a['max_abs_err_lsb']:.3f} | {a['max_abs_err_lsb_vs_saturated_ref']:.3f} "
            f"| {a['rmse_lsb']:.4f} | {a['argmax_agree']:.6f} ({a['argmax_decisive_rows']}) "
            f"| {g('lut4')} | {g('ff')} | {g('dsp')} | {g('ebr')} | {g('fmax_mhz')} |")
    return "\n".join(lines) + "\n"
