"""Pipeline helpers shared by the gateware blocks."""

from amaranth.hdl import ClockSignal, Instance, Mux, ResetSignal, Signal, Value

__all__ = ["delay", "distinct_register", "updown_counter", "wrap_counter"]


def delay(m, value, cycles: int, name: str, *, reset_less: bool = False):
    """``value`` delayed by ``cycles`` registers in ``m``'s ``sync`` domain (same shape or
    layout: a :class:`~amaranth.lib.data.View` stays a view). ``reset_less`` registers keep
    their value on the domain's reset (data paths: no reset net to route to them)."""
    for i in range(cycles):
        nxt = Signal(value.shape(), name=f"{name}_d{i}", reset_less=reset_less)
        m.d.sync += nxt.eq(value)
        value = nxt
    return value


def distinct_register(m, value, name: str, impl: str, *, reset_less: bool = False, clear=None):
    """A register of ``value`` (sync domain, init 0) that synthesis keeps distinct.

    Yosys merges flip-flops with identical inputs (``opt_merge``), so N copies of a control
    register made to give each lane its own driver become one register driving all N
    lanes. With ``impl == "primitive"`` (ECP5) every bit is an ``FD1S3IX`` instance
    (Lattice's D flip-flop with synchronous clear, mapped onto TRELLIS_FF; ``FD1S3AX``, the
    same without the clear, when ``reset_less`` and no ``clear``), which Yosys does not
    merge; with ``"behavioural"`` it is a plain register (simulation).

    ``clear``: a 1-bit signal that loads 0 instead of ``value`` (the flip-flop's own
    synchronous clear, no look-up table in front of it; or-ed with the domain's reset
    unless ``reset_less``).
    """
    out = Signal(value.shape(), name=name, reset_less=reset_less)
    if impl == "primitive":
        bits = Signal(len(out), name=f"{name}_q")
        cd = None if reset_less else ResetSignal("sync")
        if clear is not None:
            cd = clear if cd is None else (clear | cd)
        for i in range(len(out)):
            ports = dict(p_GSR="DISABLED", i_CK=ClockSignal("sync"), i_D=Value.cast(value)[i],
                         o_Q=bits[i])
            if cd is None:
                m.submodules[f"{name}_ff{i}"] = Instance("FD1S3AX", **ports)
            else:
                m.submodules[f"{name}_ff{i}"] = Instance("FD1S3IX", i_CD=cd, **ports)
        m.d.comb += out.eq(bits)
    else:
        m.d.sync += out.eq(value if clear is None else Mux(clear, 0, value))
    return out


def wrap_counter(m, en, modulus: int, name: str):
    """A counter ``0, 1, ..., modulus - 1, 0, ...`` that steps when ``en`` is high, and a
    registered flag "at ``modulus - 1``" kept beside it, so no comparator sits between the
    counter and its next value (the wrap is a 2:1 choice by a register bit).
    Returns ``count``."""
    count = Signal(range(max(modulus, 2)), name=name)
    at_last = Signal(name=f"{name}_at_last", init=int(modulus == 1))
    with m.If(en):
        m.d.sync += [count.eq(Mux(at_last, 0, count + 1)),
                     at_last.eq(Mux(at_last, modulus == 1, count == modulus - 2))]
    return count


def updown_counter(m, inc, dec, maximum: int, name: str, flags: dict):
    """A counter ``0..maximum`` that ``inc`` raises and ``dec`` lowers by one (both: no
    change), with a register per entry of ``flags`` that always equals a compare of the
    count with a constant: ``{name: ("<", c)}`` (count < c), ``("!=", c)`` or ``("==", c)``.
    A flag's next value is the same compare of ``count`` against ``c - 1`` (rising) or
    ``c + 1`` (falling): a compare of the register alone, so ``inc``/``dec`` (late handshake
    signals, usually) only choose between precomputed values.
    Returns ``{name: flag}``."""
    ops = {"<": lambda a, b: a < b, "!=": lambda a, b: a != b, "==": lambda a, b: a == b}
    count = Signal(range(maximum + 1), name=name)
    regs = {f: Signal(name=f"{name}_{f}", init=int(ops[op](0, c))) for f, (op, c) in flags.items()}
    up, down = Signal(name=f"{name}_up"), Signal(name=f"{name}_down")
    m.d.comb += [up.eq(inc & ~dec), down.eq(dec & ~inc)]
    for cond, step in ((up, 1), (down, -1)):
        with m.If(cond):
            m.d.sync += [count.eq(count + step),
                         *(regs[f].eq(ops[op](count, c - step)) for f, (op, c) in flags.items())]
    return regs


def one_hot_states(names, prefix: str):
    """A one-hot state machine: one flag register per state (``{prefix}_{name}``; the first
    state's starts at 1) and ``goto(current, target)``, the assignments of a transition
    (``m.d.sync += goto(...)`` inside ``with m.If(flags[current])``). A transition writes
    only the two flags it changes, so each flag's next value reads only the transitions
    into and out of its own state (writing every flag on every transition made each one a
    function of all of them: the attention front's critical path, v30, 4 LUT levels).
    Returns ``(flags, goto)``."""
    flags = {n: Signal(name=f"{prefix}_{n.lower()}", init=int(i == 0)) for i, n in enumerate(names)}

    def goto(current, target):
        return [flags[current].eq(0), flags[target].eq(1)] if current != target else []

    return flags, goto
