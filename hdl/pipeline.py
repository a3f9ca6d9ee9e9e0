"""Pipeline helpers shared by the gateware blocks."""

from amaranth.hdl import Signal

__all__ = ["delay"]


def delay(m, value, cycles: int, name: str, *, reset_less: bool = False):
    """``value`` delayed by ``cycles`` registers in ``m``'s ``sync`` domain (same shape or
    layout: a :class:`~amaranth.lib.data.View` stays a view). ``reset_less`` registers keep
    their value on the domain's reset (data paths: no reset net to route to them)."""
    for i in range(cycles):
        nxt = Signal(value.shape(), name=f"{name}_d{i}", reset_less=reset_less)
        m.d.sync += nxt.eq(value)
        value = nxt
    return value
