"""Cost of attention variants: the talk's complexity table, with exact counts where
the variant's cost can be written down exactly.

The talk (after Xu et al., arXiv:2401.08092) lists time and space complexity of
Transformer, AFT, Reformer, Hyena, SSM, Linear Transformers, RetNet and RWKV. For
four of them the token-mixing operator is a fixed formula, so its OPs and memory
follow exactly from ``T`` (sequence length) and ``d`` (width of one head / channel
count) under these counting rules:

* one head, non-causal (the whole sequence mixes), projections excluded;
* multiply-add = 2 OPs; add, multiply, exp, divide, max = 1 OP each;
  softmax = 5 OPs per element (as in the workload model); elu+1 = 2 OPs;
* memory is counted in elements, split into ``io`` (inputs read and output written
  once), ``state`` (intermediates the algorithm materialises) and ``params``
  (learned tensors the operator reads); ``bytes = elements * bits / 8`` rounded up.

Formulas
--------
transformer (softmax attention, Vaswani et al. 2017)
    S = Q K^T (2T^2 d), P = softmax(S) (5T^2), O = P V (2T^2 d).
    OPs 4T^2 d + 5T^2; io 4Td (Q, K, V, O); state T^2 (S, P in place).
linear_transformer (Katharopoulos et al. 2020)
    phi(x) = elu(x)+1 on Q and K (4Td), KV = phi(K)^T V (2Td^2), z = sum_t phi(K_t)
    (Td), num = phi(Q) KV (2Td^2), den = phi(Q) z (2Td), O = num / den (Td).
    OPs 4Td^2 + 8Td; io 4Td; state d^2 + d + T.
aft_full (Zhai et al. 2021, "An Attention Free Transformer")
    O_t = sigmoid(Q_t) * sum_t' exp(w_tt') (exp(K_t') V_t') / sum_t' exp(w_tt') exp(K_t'),
    as two matrix products with exp(w): exp(K) (Td), exp(K) V (Td), exp(w) (T^2),
    exp(w) @ [exp(K) V] and exp(w) @ exp(K) (4T^2 d), sigmoid(Q) (3Td: exp, add,
    divide), divide and multiply (2Td). OPs 4T^2 d + 7Td + T^2; io 4Td;
    state 2Td + T^2; params T^2 (the position biases w).
rwkv (RWKV-4 WKV operator, Peng et al. 2023, recurrent form, per channel)
    e^{-w} per channel (2d); per token and channel: e^{u+k_t} (2), numerator
    a + e^{u+k} v (2), denominator b + e^{u+k} (1), divide (1), e^{k_t} (1),
    a <- e^{-w} a + e^k v (3), b <- e^{-w} b + e^k (2): 12 per element.
    OPs 12Td + 2d; io 3Td (k, v, output); state 2d (a, b); params 2d (w, u).

Reformer, Hyena, SSM and RetNet are listed with the talk's big-O only: their cost
depends on bucket counts, FFT sizes, state sizes or chunking choices.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VariantCost", "VARIANTS", "variant_costs", "variant_cost"]

# name -> (talk's time, talk's space, exact?)
VARIANTS = {
    "transformer": ("O(T^2 d)", "O(T^2 + T d)", True),
    "aft_full": ("O(T^2 d)", "O(T d)", True),
    "reformer": ("O(T log T d)", "O(T log T + T d)", False),
    "hyena": ("O(T log T d)", "O(T d)", False),
    "ssm": ("O(T log T d)", "O(T d)", False),
    "linear_transformer": ("O(T d^2)", "O(T d + d^2)", True),
    "retnet": ("O(T d)", "O(T d)", False),
    "rwkv": ("O(T d)", "O(d)", True),
}


@dataclass(frozen=True)
class VariantCost:
    """Cost of one variant at ``(T, d)``; exact fields are ``None`` when not exact."""

    name: str
    time_complexity: str
    space_complexity: str
    exact: bool
    ops: int | None = None
    io_elements: int | None = None
    state_elements: int | None = None
    param_elements: int | None = None
    bits: int = 16

    @property
    def memory_elements(self) -> int | None:
        if not self.exact:
            return None
        return self.io_elements + self.state_elements + self.param_elements

    @property
    def memory_bytes(self) -> int | None:
        if not self.exact:
            return None
        return -(-self.memory_elements * self.bits // 8)

    def as_dict(self) -> dict:
        return {"name": self.name, "time": self.time_complexity,
                "space": self.space_complexity, "exact": self.exact, "ops": self.ops,
                "io_elements": self.io_elements, "state_elements": self.state_elements,
                "param_elements": self.param_elements,
                "memory_elements": self.memory_elements, "memory_bytes": self.memory_bytes,
                "bits": self.bits}


def _exact(name, T, d):
    if name == "transformer":
        return 4 * T * T * d + 5 * T * T, 4 * T * d, T * T, 0
    if name == "linear_transformer":
        return 4 * T * d * d + 8 * T * d, 4 * T * d, d * d + d + T, 0
    if name == "aft_full":
        return 4 * T * T * d + 7 * T * d + T * T, 4 * T * d, 2 * T * d + T * T, T * T
    if name == "rwkv":
        return 12 * T * d + 2 * d, 3 * T * d, 2 * d, 2 * d
    raise AssertionError(name)


def variant_cost(name: str, T: int, d: int, bits: int = 16) -> VariantCost:
    """Cost of variant ``name`` for sequence length ``T`` and width ``d``.

    Raises
    ------
    ValueError
        Unknown ``name`` (message lists the known ones) or non-positive ``T``/``d``/``bits``.
    TypeError
        Non-integer ``T``/``d``/``bits``.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown attention variant {name!r}; known: {', '.join(VARIANTS)}")
    for pname, v in (("T", T), ("d", d), ("bits", bits)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{pname} must be an int, not {v!r}")
        if v <= 0:
            raise ValueError(f"{pname} must be positive, not {v!r}")
    time_c, space_c, exact = VARIANTS[name]
    if not exact:
        return VariantCost(name, time_c, space_c, False, bits=bits)
    ops, io, state, params = _exact(name, T, d)
    return VariantCost(name, time_c, space_c, True, ops, io, state, params, bits)


def variant_costs(T: int, d: int, bits: int = 16) -> list[VariantCost]:
    """All variants, in the talk's table order."""
    return [variant_cost(n, T, d, bits) for n in VARIANTS]
