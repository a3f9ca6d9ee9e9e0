"""Simple dual-port block RAM with a registered output (ECP5 DP16KD, ``REGMODE=OUTREG``).

Yosys maps Amaranth memories to DP16KD with the output register unused
(``REGMODE=NOREG``); the EBR's clock-to-output then costs about 5.6 ns on speed grade -6
(measured: the critical path of the GEMV array's activation buffer at 152.8 MHz). This
component instantiates DP16KD with its output register on ECP5 and simulates as an
Amaranth memory followed by a register: the same two-cycle read either way.

Contract
--------
* Write: ``w_en``, ``w_addr``, ``w_data`` sampled at the clock edge.
* Read: ``r_data`` at cycle ``t + 2`` is the word at ``r_addr`` of cycle ``t`` if ``r_en``
  was high then; while ``r_en`` stays low the read latch holds, so ``r_data`` holds too.
* With ``write_reg=True`` the write port has one register stage: the word is written one
  cycle after ``w_en``/``w_addr``/``w_data`` are sampled (on ECP5 each block has its own
  enable flip-flop, placed beside it, and its data bits; the address is one register).
* A read of the address being written in the same cycle returns an undefined value
  (callers never do it).
* any ``width``; ``depth <= 16384``. Each DP16KD is used as ``16384 / 2**k`` words of
  ``w`` bits (``w`` in 9, 4, 2, 1), ``ceil(width / w)`` of them side by side.
"""

from amaranth.hdl import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .dsp import resolve_impl
from .pipeline import distinct_register

__all__ = ["RegisteredRAM", "RAM_READ_LATENCY"]

#: Cycles from ``r_addr``/``r_en`` to ``r_data``.
RAM_READ_LATENCY = 2

# DP16KD data width -> words per block (true dual-port modes)
_MODES = [(9, 2048), (4, 4096), (2, 8192), (1, 16384)]


def ebr_geometry(width: int, depth: int) -> tuple[int, int, int]:
    """``(bits per block, address shift, blocks)`` for a ``width`` x ``depth`` memory."""
    for w, words in _MODES:
        if depth <= words:
            return w, ceil_log2(16384 // words), -(-width // w)
    raise ValueError(f"depth must be <= 16384, not {depth!r}")


class RegisteredRAM(wiring.Component):
    """``width`` x ``depth`` RAM, one write port, one read port with two cycles of latency.

    Parameters
    ----------
    width : int
        Word width in bits (any: the blocks sit side by side).
    depth : int
        Words, 1..16384.
    impl : ``"auto"``, ``"primitive"`` or ``"behavioural"``
        ``"auto"`` instantiates DP16KD when elaborated for an ECP5 platform.
    write_reg : bool
        A register stage in the write port (one cycle later; see the module docstring).
    """

    def __init__(self, width: int, depth: int, impl: str = "auto", *, write_reg: bool = False):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, not {width!r}")
        if not isinstance(depth, int) or not 1 <= depth <= 16384:
            raise ValueError(f"depth must be in 1..16384, not {depth!r}")
        resolve_impl(impl, None, "impl")
        self.width, self.depth, self._impl = width, depth, impl
        self._write_reg = write_reg
        abits = max(1, ceil_log2(depth))
        super().__init__({
            "w_en": In(1), "w_addr": In(abits), "w_data": In(width),
            "r_en": In(1), "r_addr": In(abits), "r_data": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        impl = resolve_impl(self._impl, platform, "impl")
        w_en, w_addr, w_data = self.w_en, self.w_addr, self.w_data
        if self._write_reg:
            w_addr, w_data = (Signal.like(s, name=f"{s.name}_r", reset_less=True)
                              for s in (self.w_addr, self.w_data))
            m.d.sync += [w_addr.eq(self.w_addr), w_data.eq(self.w_data)]
        if impl == "primitive":
            bits, shift, blocks = ebr_geometry(self.width, self.depth)
            for b in range(blocks):
                lo, hi = b * bits, min(self.width, (b + 1) * bits)
                # (the block's own enable register: ``distinct_register`` keeps the copies)
                wea = (distinct_register(m, self.w_en, f"w_en_r{b}", impl) if self._write_reg
                       else w_en)
                ports = {}
                for i in range(14):
                    a = i - shift
                    ports[f"i_ADA{i}"] = w_addr[a] if 0 <= a < len(w_addr) else 0
                    ports[f"i_ADB{i}"] = self.r_addr[a] if 0 <= a < len(self.r_addr) else 0
                dout = Signal(18, name=f"dob{b}")
                for i in range(18):
                    ports[f"i_DIA{i}"] = w_data[lo + i] if lo + i < hi else 0
                    ports[f"i_DIB{i}"] = 0
                    ports[f"o_DOB{i}"] = dout[i]
                for c in range(3):
                    ports[f"i_CSA{c}"] = 0
                    ports[f"i_CSB{c}"] = 0
                m.submodules[f"ebr{b}"] = Instance(
                    "DP16KD",
                    p_DATA_WIDTH_A=bits, p_DATA_WIDTH_B=bits,
                    p_REGMODE_A="NOREG", p_REGMODE_B="OUTREG",
                    p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC",
                    p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
                    p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL", p_GSR="DISABLED",
                    i_CLKA=ClockSignal("sync"), i_CEA=1, i_OCEA=1, i_WEA=wea, i_RSTA=0,
                    i_CLKB=ClockSignal("sync"), i_CEB=self.r_en, i_OCEB=1, i_WEB=0, i_RSTB=0,
                    **ports,
                )
                m.d.comb += self.r_data[lo:hi].eq(dout[:hi - lo])
        else:
            m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[])
            wp = mem.write_port()
            rp = mem.read_port(transparent_for=())
            out = Signal(self.width, reset_less=True)
            if self._write_reg:
                w_en = Signal(name="w_en_r")
                m.d.sync += w_en.eq(self.w_en)
            m.d.comb += [wp.en.eq(w_en), wp.addr.eq(w_addr), wp.data.eq(w_data),
                         rp.en.eq(self.r_en), rp.addr.eq(self.r_addr)]
            m.d.sync += out.eq(rp.data)
            m.d.comb += self.r_data.eq(out)
        return m
