"""Registry of buildable designs: name -> factory, default parameters, operations per cycle.

``tools/build.py --design NAME --param key=value`` looks designs up here. Each design's
factory receives the complete parameter dict (defaults overlaid with the user's values) and
returns an Amaranth :class:`~amaranth.lib.wiring.Component`; its ``ops_per_cycle(params)``
gives the arithmetic operations the design completes per clock cycle at full throughput
(2 per multiply-accumulate), from which the flow reports peak GOPS.

Factories import their gateware lazily, so the registry (and ``--list-designs``) works even
while a design's module is missing or broken. Registering another design is one call::

    def _softmax(params):
        from attnkit.hdl.softmax import SoftmaxUnit
        return SoftmaxUnit(**params)

    register(Design("softmax", _softmax, defaults={"width": 16},
                    ops_per_cycle=lambda p: 1, description="streaming softmax"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Design", "DESIGNS", "register", "get", "names", "resolve_params", "parse_param"]


@dataclass(frozen=True)
class Design:
    """A buildable design.

    Attributes
    ----------
    name : str
    factory : callable
        ``factory(params: dict) -> wiring.Component``.
    defaults : dict
        Every parameter the factory accepts, with the value used when not given.
    ops_per_cycle : callable
        ``ops_per_cycle(params: dict) -> int``: operations per cycle, 2 per MAC.
    description : str
    board_top : callable, optional
        ``board_top(board: str, clock_mhz: float | None, params: dict) -> Elaboratable``: the
        design as a board top level (``tools/build.py --board``); ``None`` for cores that
        are only built out of context.
    sites : callable, optional
        ``sites(params: dict) -> callable | None``: the floorplan an out-of-context build
        applies to the synthesised netlist (``build_ooc(sites=...)``), or ``None`` for these
        parameters.
    """

    name: str
    factory: Callable
    defaults: dict = field(default_factory=dict)
    ops_per_cycle: Callable = None
    description: str = ""
    board_top: Callable = None
    sites: Callable = None

    def build(self, params=None):
        """Construct the component with :meth:`resolve_params` applied."""
        return self.factory(resolve_params(self, params))


#: All registered designs by name.
DESIGNS: dict = {}


def register(design: Design) -> Design:
    if not isinstance(design, Design):
        raise TypeError(f"register() takes a Design, not {design!r}")
    if design.name in DESIGNS:
        raise ValueError(f"design {design.name!r} is already registered")
    DESIGNS[design.name] = design
    return design


def get(name: str) -> Design:
    """The design called ``name``; :class:`ValueError` naming the known designs otherwise."""
    try:
        return DESIGNS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown design {name!r}; known designs: "
                         f"{', '.join(sorted(DESIGNS)) or '(none)'}") from None


def names() -> list:
    return sorted(DESIGNS)


def resolve_params(design: Design, params=None) -> dict:
    """Defaults overlaid with ``params``; unknown parameter names raise :class:`ValueError`."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(design.defaults))
    if unknown:
        raise ValueError(f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))} for design {design.name!r}; "
                         f"known: {', '.join(design.defaults) or '(none)'}")
    return {**design.defaults, **params}


def parse_param(text: str):
    """``"lanes=16"`` -> ``("lanes", 16)``. Values: int, float, ``true``/``false``, ``none``,
    else the string."""
    if "=" not in text:
        raise ValueError(f"parameter must be written name=value, not {text!r}")
    key, _, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not key.isidentifier():
        raise ValueError(f"parameter name {key!r} (in {text!r}) is not a valid name")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    if lowered == "none":
        return key, None
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw


# --------------------------------------------------------------------------------------------
# The designs


def _gemv(params):
    from attnkit.hdl.gemv import GemvArray, gemv_dsp_count
    params = dict(params)
    floorplan = params.pop("floorplan")
    if floorplan is None:
        return GemvArray(**params)
    # floorplan=DEVICE: lane p's DSP on the p-th site of a serpentine walk over the DSP rows
    from .floorplan import serpentine_sites
    sites = serpentine_sites(floorplan, gemv_dsp_count(params["lanes"], params["weight_bits"]))
    return GemvArray(**params, dsp_bels=sites)


def _gemv_ops(params):
    # One MAC per lane per cycle (GemvArray.macs_per_cycle), 2 operations per MAC.
    return 2 * params["lanes"]


register(Design(
    "gemv", _gemv,
    # Small enough that the default build takes about a minute on LFE5U-25F (28 DSPs).
    defaults={"lanes": 8, "weight_bits": 8, "acc_width": 32, "requant": False,
              "max_n": 1024, "group": 8, "floorplan": None},
    ops_per_cycle=_gemv_ops,
    description="systolic GEMV array (attnkit.hdl.gemv.GemvArray): int8 x int8/int4, "
                "int32 accumulation; floorplan=DEVICE fixes the lanes' DSP sites "
                "(attnkit.boards.floorplan)",
))


def _accelerator(params):
    from attnkit.hdl.accelerator import GemvAccelerator
    params = dict(params)
    if params.pop("softmax") or params.pop("attention"):
        raise ValueError("softmax/attention engines are only built with --board (the out-of-"
                         "context build is the GEMV accelerator core); build them alone with "
                         "--design softmax, or the attention engine's own benchmark")
    return GemvAccelerator(**params)


def _accelerator_board(board, clock_mhz, params):
    from attnkit.boards.top import BoardTop
    return BoardTop(board, clock_mhz=clock_mhz, **params)


register(Design(
    "accelerator", _accelerator,
    # Small defaults (a quick 25F build); the full ULX3S-85F build uses --param lanes=128.
    # softmax/attention add those engines to the board top (attnkit.boards.top.BOARD_*).
    defaults={"lanes": 8, "weight_bits": 8, "acc_width": 32, "requant": False,
              "max_n": 1024, "max_m": 1024, "w_words": 256, "softmax": False,
              "attention": False},
    ops_per_cycle=_gemv_ops,
    description="host-link accelerator (attnkit.hdl.accelerator.GemvAccelerator: GEMV engine, "
                "W/x/y memories, registers); with --board: the board top (PLL, UART host "
                "bridge, LEDs, attnkit.boards.top.BoardTop; softmax=true / attention=true "
                "add those engines)",
    board_top=_accelerator_board,
))


def _softmax(params):
    from attnkit.hdl.softmax import softmax_from_params
    return softmax_from_params(**params)


register(Design(
    "softmax", _softmax,
    defaults={"l_max": 4096, "in_int_bits": 7, "in_frac_bits": 8, "out_bits": 8,
              "out_int_bits": 0, "table_bits": 6, "degree": 1, "exp_frac_bits": 16,
              "sum_guard_bits": 10},
    ops_per_cycle=lambda p: 0,
    description="streaming softmax (attnkit.hdl.softmax.Softmax), one element per cycle",
))


def _attention(params):
    from attnkit.hdl.attention import AttentionEngine
    params = dict(params)
    params.pop("floorplan")           # applied to the netlist: see _attention_sites
    return AttentionEngine(**params)


def _attention_sites(params):
    # floorplan=DEVICE: the block RAMs and multipliers in one band, by lane
    # (attnkit.boards.floorplan.attention_sites), set on the synthesised netlist
    plan = params["floorplan"]
    if plan is None:
        return None
    from .floorplan import attention_sites
    return lambda cells: attention_sites(plan, cells)


register(Design(
    "attention", _attention,
    defaults={"d": 64, "lanes": 8, "t_max": 512, "k_max": 32, "block": 16, "floorplan": None},
    # The scorer and the p.V accumulators each complete `lanes` MACs per busy cycle.
    ops_per_cycle=lambda p: 2 * p["lanes"],
    description="sparse-attention engine (attnkit.hdl.attention.AttentionEngine): one head, "
                "decode, dense/static/top-k/predict-then-compute; floorplan=DEVICE fixes "
                "its block RAMs' and DSPs' sites (attnkit.boards.floorplan)",
    sites=_attention_sites,
))
