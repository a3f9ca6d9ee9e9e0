"""Pipeline helpers shared by the gateware blocks."""

from amaranth.hdl import Signal

__all__ = ["delay"]


def delay(m, value, cycles: int, name: str):
    """``value`` delayed by ``cycles`` registers in ``m``'s ``sync`` domain (same shape or
    layout: a :class:`~amaranth.lib.data.View` stays a view)."""
    for i in range(cycles):
        nxt = Signal(value.shape(), name=f"{name}_d{i}")
        m.d.sync += nxt.eq(value)
        value = nxt
    return value
