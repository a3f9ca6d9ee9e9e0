"""Out-of-context (OOC) harness: build a core alone, with every port register-to-register.

nextpnr-ecp5 has only an experimental ``--out-of-context`` flag, and it disables global clock
promotion and IO insertion, which would distort both Fmax and utilisation; and a core's ports
(a GEMV array's weight bus is over a thousand bits) far exceed any package's pins. So a core is
measured inside this harness, which needs four pins whatever the core's width:

``clk``
    The only clock. The flow constrains it with ``FREQUENCY PORT "clk" <MHz> MHZ;`` in an LPF.
``rst``
    Synchronised by two flip-flops, then drives the core's ``sync`` domain reset.
``si``
    Serial data in: registered once, then shifted through a chain of flip-flops, one per core
    input bit (every member of the core's signature with flow ``In``), inverted at every
    stage after the first (one LUT per stage). Each core input is driven straight from one
    register of that chain. The inversion matters: a reset-less core register that samples
    chain bit ``k`` would otherwise be an exact duplicate of chain register ``k + 1`` (same
    input, same clock, no reset) and Yosys would merge the two, so a core's input
    registers (a GEMV array's weight skew chains) would vanish into the harness.
``so``
    Serial data out: every core output bit (flow ``Out``) is captured in a register, and the
    captured bits are folded three at a time, with the previous fold register, through one
    LUT4 into a chain of fold registers (a multiple-input signature register), whose last bit
    is the pin. Every output bit reaches the pin, so synthesis can remove nothing the core
    drives, and no harness path has more than one LUT between registers.

So every core input and output path is register-to-register, as it would be in a real system,
and the harness never sets the clock. Harness registers are named ``ooc_ff_*`` (and the core is
the submodule ``core``), so the flow can count the cells the harness adds in the synthesised
netlist (:func:`count_harness_cells`) and report the core's own resources separately.

The core must be a :class:`amaranth.lib.wiring.Component` whose logic lives in the ``sync``
domain (and ``comb``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockDomain, Elaboratable, Module, Signal, Value
from amaranth.lib import wiring

__all__ = ["OOCHarness", "HARNESS_PREFIX", "CORE_PREFIX", "PINS", "count_harness_cells"]

#: Name prefix of every register the harness adds.
HARNESS_PREFIX = "ooc_ff_"
#: The core's submodule name, so its cells' paths in the flattened netlist start with this.
CORE_PREFIX = "core."

#: The harness top level's pins.
PINS = ("clk", "rst", "si", "so")

#: Core output bits folded into each fold register (plus the previous fold bit: one LUT4).
_FOLD = 3


class OOCHarness(Elaboratable):
    """Wrap ``core`` so that it can be placed and routed alone on four pins.

    Parameters
    ----------
    core : wiring.Component
        The design to measure. Its signature's ``In`` members are driven from a shift chain,
        its ``Out`` members captured and folded.

    Attributes
    ----------
    clk, rst, si, so : Signal
        The top-level ports (pass :meth:`ports` to the RTLIL/Verilog back end).
    in_bits, out_bits : int
        Total width of the core's inputs and outputs.
    """

    def __init__(self, core):
        self._MustUse__silence = True    # not "unused" if the checks below reject the core
        if not isinstance(core, wiring.Component):
            raise TypeError(f"core must be an amaranth.lib.wiring.Component, not {core!r}")
        self.core = core
        self.inputs = []
        self.outputs = []
        for path, member, value in core.signature.flatten(core):
            bits = Value.cast(value)
            (self.inputs if member.flow == wiring.In else self.outputs).append((path, bits))
        self.in_bits = sum(len(bits) for _, bits in self.inputs)
        self.out_bits = sum(len(bits) for _, bits in self.outputs)
        if self.out_bits == 0:
            raise ValueError(f"core {type(core).__name__} has no output ports; the harness "
                             f"needs at least one output bit to keep the core from being "
                             f"optimised away")
        self._MustUse__silence = False
        self.clk = Signal(name="clk")
        self.rst = Signal(name="rst")
        self.si = Signal(name="si")
        self.so = Signal(name="so")

    def ports(self):
        return [self.clk, self.rst, self.si, self.so]

    @property
    def fold_bits(self) -> int:
        return -(-self.out_bits // _FOLD)

    @property
    def expected_ffs(self) -> int:
        """Harness flip-flops if synthesis keeps every bit (it removes chain bits feeding
        unused core inputs and captures of constant outputs; the flow counts the real ones)."""
        return 2 + 1 + self.in_bits + self.out_bits + self.fold_bits

    def elaborate(self, platform):
        m = Module()
        # The core's domain, with its reset from the synchroniser below; and a reset-less
        # domain on the same clock for the harness's own shift and fold registers.
        m.domains.sync = cd_sync = ClockDomain("sync")
        m.domains.ooc = cd_ooc = ClockDomain("ooc", reset_less=True)
        m.d.comb += [cd_sync.clk.eq(self.clk), cd_ooc.clk.eq(self.clk)]

        m.submodules[CORE_PREFIX[:-1]] = self.core

        rst_meta = Signal(name=HARNESS_PREFIX + "rst_meta", init=1)
        rst_sync = Signal(name=HARNESS_PREFIX + "rst_sync", init=1)
        m.d.ooc += [rst_meta.eq(self.rst), rst_sync.eq(rst_meta)]
        m.d.comb += cd_sync.rst.eq(rst_sync)

        si_reg = Signal(name=HARNESS_PREFIX + "si")
        m.d.ooc += si_reg.eq(self.si)

        # Input side: one shift chain (inverting after the first stage, see the module
        # docstring), each core input bit driven by one of its registers.
        if self.in_bits:
            chain = Signal(self.in_bits, name=HARNESS_PREFIX + "in")
            if self.in_bits == 1:
                m.d.ooc += chain.eq(si_reg)
            else:
                m.d.ooc += chain.eq(Cat(si_reg, ~chain[:-1]))
            offset = 0
            for _, bits in self.inputs:
                m.d.comb += bits.eq(chain[offset:offset + len(bits)])
                offset += len(bits)

        # Output side: capture every output bit, then fold into a register chain.
        capture = Signal(self.out_bits, name=HARNESS_PREFIX + "cap")
        m.d.ooc += capture.eq(Cat(*(bits for _, bits in self.outputs)))
        fold = Signal(self.fold_bits, name=HARNESS_PREFIX + "fold")
        for j in range(self.fold_bits):
            prev = fold[j - 1] if j else si_reg
            group = capture[_FOLD * j:_FOLD * (j + 1)]
            m.d.ooc += fold[j].eq(prev ^ group.xor())
        m.d.comb += self.so.eq(fold[-1])
        return m


def count_harness_cells(netlist: dict, top: str = "top") -> dict:
    """Count the cells the harness added to a synthesised Yosys JSON netlist.

    A ``TRELLIS_FF`` belongs to the harness when its output net carries a name starting with
    :data:`HARNESS_PREFIX`; a ``LUT4`` belongs to it when it only drives harness flip-flops.
    Returns ``{"TRELLIS_FF": n, "TRELLIS_COMB": n, "TRELLIS_IO": 4}`` in nextpnr's cell-type
    names (a LUT4 becomes one ``TRELLIS_COMB``).
    """
    module = netlist["modules"][top]
    harness_bits = set()
    for name, net in module["netnames"].items():
        if name.startswith(HARNESS_PREFIX):
            harness_bits.update(bit for bit in net["bits"] if isinstance(bit, int))
    harness_ffs = 0
    harness_d_bits = set()
    for cell in module["cells"].values():
        if cell["type"] == "TRELLIS_FF":
            q = cell["connections"].get("Q", [])
            if any(bit in harness_bits for bit in q):
                harness_ffs += 1
                harness_d_bits.update(b for b in cell["connections"].get("DI", [])
                                      if isinstance(b, int))
    # Which bits does anything other than a harness FF's DI read?
    readers = {}
    for cell in module["cells"].values():
        q = cell["connections"].get("Q", []) if cell["type"] == "TRELLIS_FF" else []
        is_harness_ff = any(bit in harness_bits for bit in q)
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) == "output":
                continue
            for bit in bits:
                if isinstance(bit, int):
                    readers.setdefault(bit, set()).add(
                        "harness" if is_harness_ff and port == "DI" else "other")
    for port in module["ports"].values():
        if port["direction"] != "input":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    readers.setdefault(bit, set()).add("other")
    harness_luts = 0
    for cell in module["cells"].values():
        if cell["type"] == "LUT4":
            z = [b for b in cell["connections"].get("Z", []) if isinstance(b, int)]
            if z and all(readers.get(bit) == {"harness"} for bit in z):
                harness_luts += 1
    return {"TRELLIS_FF": harness_ffs, "TRELLIS_COMB": harness_luts, "TRELLIS_IO": len(PINS)}
