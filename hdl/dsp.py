"""ECP5 MULT18X18D multiplier with its registers, and the equivalent behavioural model.

Yosys maps an inferred ``a * b`` to a MULT18X18D with every internal register bypassed,
which limits Fmax to about 90-105 MHz on speed grade -6. :class:`Mult18` instead
instantiates the primitive with its input, pipeline and output registers in use (about
190 MHz at -6 measured on 16 DSPs), and simulates as three plain registers in series.
``tests/test_dsp_netlist.py`` proves the two agree by simulating the post-synthesis netlist
with our own MULT18X18D simulation model (``sim/models/mult18x18d.v``; Yosys ships none).
"""

from amaranth.hdl import ClockSignal, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Mult18", "MULT18_LATENCY", "resolve_impl"]

#: Cycles from ``a``/``b`` to ``p``: input register, pipeline register, output register.
MULT18_LATENCY = 3

IMPL_MODES = ("auto", "primitive", "behavioural")


def resolve_impl(mode: str, platform, name: str = "dsp") -> str:
    """Resolve ``"auto"``: the ECP5 primitive on ECP5 platforms, the behavioural model elsewhere.

    ``name`` is the parameter's name, for the error message on a bad ``mode``.
    """
    if mode not in IMPL_MODES:
        raise ValueError(f"{name} must be one of {IMPL_MODES}, not {mode!r}")
    if mode == "auto":
        family = getattr(platform, "family", None)
        return "primitive" if family == "ecp5" else "behavioural"
    return mode


class Mult18(wiring.Component):
    """Signed 18 x 18 -> 36 bit multiplier with ``MULT18_LATENCY`` (3) cycles of latency.

    ``p`` at cycle ``t`` is ``a * b`` of cycle ``t - 3``. No clock enable and no reset: the
    registers always load (they power up as 0 on ECP5 through GSR, and as 0 in simulation);
    callers track data validity themselves.

    Parameters
    ----------
    dsp : ``"auto"``, ``"primitive"`` or ``"behavioural"``
        ``"auto"`` instantiates MULT18X18D when elaborated for an ECP5 platform.
    bel : str, optional
        nextpnr site for the primitive (its ``BEL`` attribute, e.g. ``"X4/Y10/MULT18_0"``;
        :mod:`attnkit.boards.floorplan`); ignored by the behavioural model.
    """

    a: In(signed(18))
    b: In(signed(18))
    p: Out(signed(36))

    def __init__(self, dsp: str = "auto", bel: str | None = None):
        resolve_impl(dsp, None)  # validate early
        if bel is not None and not isinstance(bel, str):
            raise TypeError(f"bel must be a string or None, not {bel!r}")
        self._dsp = dsp
        self._bel = bel
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        if resolve_impl(self._dsp, platform) == "primitive":
            ports = {}
            for i in range(18):
                ports[f"i_A{i}"] = self.a[i]
                ports[f"i_B{i}"] = self.b[i]
                ports[f"i_C{i}"] = 0
            for i in range(36):
                ports[f"o_P{i}"] = self.p[i]
            for i in range(4):
                ports[f"i_CE{i}"] = 1
                ports[f"i_RST{i}"] = 0
            if self._bel is not None:
                ports["a_BEL"] = self._bel      # nextpnr: place the cell at this site
            m.submodules.mult = Instance(
                "MULT18X18D",
                p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0",
                p_REG_PIPELINE_CLK="CLK0", p_REG_OUTPUT_CLK="CLK0",
                p_REG_INPUTC_CLK="NONE", p_GSR="DISABLED", p_RESETMODE="SYNC",
                p_CLK0_DIV="ENABLED", p_SOURCEB_MODE="B_SHIFT", p_MULT_BYPASS="DISABLED",
                i_SIGNEDA=1, i_SIGNEDB=1, i_SOURCEA=0, i_SOURCEB=0,
                i_CLK0=ClockSignal("sync"), i_CLK1=0, i_CLK2=0, i_CLK3=0,
                **ports,
            )
        else:
            a_r = Signal(signed(18), reset_less=True)
            b_r = Signal(signed(18), reset_less=True)
            pipe = Signal(signed(36), reset_less=True)
            out = Signal(signed(36), reset_less=True)
            m.d.sync += [a_r.eq(self.a), b_r.eq(self.b), pipe.eq(a_r * b_r), out.eq(pipe)]
            m.d.comb += self.p.eq(out)
        return m

