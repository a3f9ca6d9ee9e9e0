"""ECP5 ``EHXPLLL`` parameters: a search over the dividers within the device limits.

Limits (Lattice *ECP5 and ECP5-5G Family Data Sheet*, FPGA-DS-02012, sysCLOCK PLL timing
table; and *ECP5 and ECP5-5G sysCLOCK PLL/DLL Design and User Guide*, FPGA-TN-02200):

* input clock ``f_IN``: 8..400 MHz
* phase detector ``f_PFD = f_IN / CLKI_DIV``: 3.125..400 MHz
* VCO ``f_VCO = f_OUT * CLKOP_DIV``: 400..800 MHz
* output ``f_OUT``: 3.125..400 MHz
* ``CLKI_DIV``, ``CLKFB_DIV``, ``CLKOP_DIV``: 1..128

With feedback from ``CLKOP`` the output is ``f_OUT = f_IN * CLKFB_DIV / CLKI_DIV``. The search
is the same idea as Project Trellis' ``ecppll`` (try every input and feedback divider, pick
the output divider that puts the VCO in range, keep the smallest frequency error), written
anew here. Ties are broken towards a VCO near the middle of its range (600 MHz).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PLLParams", "pll_params", "PLL_LIMITS", "PLLError"]

#: (min, max) in MHz, and the divider range.
PLL_LIMITS = {
    "f_in": (8.0, 400.0),
    "f_pfd": (3.125, 400.0),
    "f_vco": (400.0, 800.0),
    "f_out": (3.125, 400.0),
    "div": (1, 128),
}


class PLLError(ValueError):
    """The requested clock cannot be made within the PLL limits."""


@dataclass(frozen=True)
class PLLParams:
    """One EHXPLLL configuration (all frequencies in MHz)."""
    f_in: float
    f_requested: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def f_pfd(self) -> float:
        return self.f_in / self.clki_div

    @property
    def f_out(self) -> float:
        return self.f_in * self.clkfb_div / self.clki_div

    @property
    def f_vco(self) -> float:
        return self.f_out * self.clkop_div

    @property
    def error(self) -> float:
        """Relative error of the achieved output frequency."""
        return (self.f_out - self.f_requested) / self.f_requested

    def check(self):
        """Raise :class:`PLLError` if any figure is outside :data:`PLL_LIMITS`."""
        lo, hi = PLL_LIMITS["div"]
        for name in ("clki_div", "clkfb_div", "clkop_div"):
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise PLLError(f"{name} must be in {lo}..{hi}, not {v}")
        for name in ("f_in", "f_pfd", "f_vco", "f_out"):
            v = getattr(self, name)
            lo, hi = PLL_LIMITS[name]
            if not lo <= v <= hi:
                raise PLLError(f"{name} = {v:g} MHz is outside the ECP5 PLL range "
                               f"{lo:g}..{hi:g} MHz")

    def instance_params(self) -> dict:
        """Amaranth ``Instance("EHXPLLL", ...)`` parameters and attributes (``p_``/``a_``)."""
        return {
            "a_FREQUENCY_PIN_CLKI": f"{self.f_in:g}",
            "a_FREQUENCY_PIN_CLKOP": f"{self.f_out:.6g}",
            "a_ICP_CURRENT": "12",
            "a_LPF_RESISTOR": "8",
            "a_MFG_ENABLE_FILTEROPAMP": "1",
            "a_MFG_GMCREF_SEL": "2",
            "p_PLLRST_ENA": "DISABLED",
            "p_INTFB_WAKE": "DISABLED",
            "p_STDBY_ENABLE": "DISABLED",
            "p_DPHASE_SOURCE": "DISABLED",
            "p_OUTDIVIDER_MUXA": "DIVA",
            "p_OUTDIVIDER_MUXB": "DIVB",
            "p_OUTDIVIDER_MUXC": "DIVC",
            "p_OUTDIVIDER_MUXD": "DIVD",
            "p_CLKI_DIV": self.clki_div,
            "p_CLKOP_ENABLE": "ENABLED",
            "p_CLKOP_DIV": self.clkop_div,
            "p_CLKOP_CPHASE": self.clkop_div - 1,     # 0 degrees
            "p_CLKOP_FPHASE": 0,
            "p_FEEDBK_PATH": "CLKOP",
            "p_CLKFB_DIV": self.clkfb_div,
        }


def pll_params(f_in: float, f_out: float, *, tolerance: float = 0.01) -> PLLParams:
    """The EHXPLLL dividers making ``f_out`` MHz from ``f_in`` MHz.

    Raises :class:`PLLError` (a ``ValueError``) naming the limit when ``f_in`` or ``f_out`` is
    out of range or no divider set comes within ``tolerance`` (relative) of ``f_out``.
    """
    for name, v in (("f_in", f_in), ("f_out", f_out)):
        lo, hi = PLL_LIMITS[name]
        if not lo <= v <= hi:
            raise PLLError(f"{name} = {v:g} MHz is outside the ECP5 PLL range {lo:g}..{hi:g} MHz")
    dlo, dhi = PLL_LIMITS["div"]
    best = None
    best_key = None
    for clki in range(dlo, dhi + 1):
        pfd = f_in / clki
        if pfd < PLL_LIMITS["f_pfd"][0]:
            break
        if pfd > PLL_LIMITS["f_pfd"][1]:
            continue
        for clkfb in range(dlo, dhi + 1):
            out = pfd * clkfb
            if out > PLL_LIMITS["f_out"][1]:
                break
            if out < PLL_LIMITS["f_out"][0]:
                continue
            # output divider putting the VCO closest to 600 MHz, within 400..800
            op = max(dlo, min(dhi, round(600.0 / out)))
            vco = out * op
            if not PLL_LIMITS["f_vco"][0] <= vco <= PLL_LIMITS["f_vco"][1]:
                continue
            key = (abs(out - f_out), abs(vco - 600.0), clki)
            if best_key is None or key < best_key:
                best_key, best = key, PLLParams(f_in, f_out, clki, clkfb, op)
    if best is None or abs(best.error) > tolerance:
        got = f" (nearest {best.f_out:.4g} MHz)" if best else ""
        raise PLLError(f"cannot make {f_out:g} MHz from {f_in:g} MHz within "
                       f"{tolerance:.1%}{got}")
    best.check()
    return best
