# amaranth: UnusedElaboratable=no
"""DSP floorplans (boards/floorplan.py) and their use by the GEMV array and the build flow."""

import re

import pytest
from amaranth.back import rtlil

from attnkit.boards import designs, ecp5
from attnkit.boards.floorplan import FLOORPLAN_DEVICES, mult18_rows, serpentine_sites
from attnkit.boards.toolchain import build_ooc
from attnkit.hdl.gemv import GemvArray
from tool_modules import load_tool

_SITE = re.compile(r"X(\d+)/Y(\d+)/MULT18_[0145]")


def _xy(site):
    m = _SITE.fullmatch(site)
    assert m, site
    return int(m[1]), int(m[2])


@pytest.mark.parametrize("name", FLOORPLAN_DEVICES)
def test_every_multiplier_site_once(name):
    rows = mult18_rows(name)
    sites = [s for row in rows for s in row]
    assert len(sites) == len(set(sites)) == ecp5.device(name).mult18 == 156
    assert [len(r) for r in rows] == [52, 52, 52]
    for row in rows:
        xs = [_xy(s)[0] for s in row]
        assert xs == sorted(xs) and len({_xy(s)[1] for s in row}) == 1


def test_serpentine_walk_keeps_neighbours_together():
    walk = serpentine_sites("LFE5U-85F", 156)
    assert walk[0] == "X4/Y10/MULT18_0" and walk[51] == "X119/Y10/MULT18_5"
    assert walk[52] == "X119/Y34/MULT18_5" and walk[-1] == "X119/Y58/MULT18_5"
    for a, b in zip(walk, walk[1:]):
        (xa, ya), (xb, yb) = _xy(a), _xy(b)
        if ya == yb:
            assert 1 <= abs(xa - xb) <= 6, (a, b)       # next site in the row (6: 63 -> 69)
        else:
            assert xa == xb and abs(ya - yb) == 24, (a, b)   # row change at the same end
    # a GEMV group of 8 lanes spans at most two sysDSP blocks' width of one row, or a turn
    for g in range(0, 156, 8):
        xs = [_xy(s)[0] for s in walk[g:g + 8]]
        assert max(xs) - min(xs) <= 28, (g, walk[g:g + 8])
    assert serpentine_sites("LFE5U-85F", 3) == walk[:3]


def test_floorplan_errors():
    with pytest.raises(ValueError, match="no DSP floorplan for LFE5U-25F"):
        serpentine_sites("LFE5U-25F", 4)
    with pytest.raises(ValueError, match=r"count must be in 0\.\.156 for LFE5U-85F, not 157"):
        serpentine_sites("LFE5U-85F", 157)
    with pytest.raises(ValueError, match="dsp_bels must be 4 site names"):
        GemvArray(lanes=4, dsp_bels=serpentine_sites("LFE5U-85F", 3))
    with pytest.raises(ValueError, match="names a site twice"):
        GemvArray(lanes=2, dsp_bels=["X4/Y10/MULT18_0"] * 2)


@pytest.mark.parametrize("weight_bits, lanes, group", [(8, 6, 4), (4, 8, 4)])
def test_gemv_puts_each_dsp_on_its_site(weight_bits, lanes, group):
    arr = GemvArray(lanes=lanes, weight_bits=weight_bits, group=group, dsp="primitive",
                    dsp_bels=serpentine_sites("LFE5U-85F", lanes * weight_bits // 8))
    text = rtlil.convert(arr)
    # every lane multiplier is its own RTLIL module (``top.mul<k>`` for int8, ``top.mul<k>_<k+1>``
    # for a pair of int4 lanes) holding one MULT18X18D with the k-th site (the DSP's index)
    found = {}
    for mod in re.finditer(r"module \\top\.mul(\d+)\S*\n(.*?)\nend\n", text, re.S):
        bels = re.findall(r'attribute \\BEL "([^"]+)"\n\s*cell \\MULT18X18D', mod[2])
        assert len(bels) == 1, mod[0][:200]
        found[int(mod[1]) * weight_bits // 8] = bels[0]
    assert found == dict(enumerate(arr.dsp_bels))


def test_registry_floorplan_parameter():
    gemv = designs.get("gemv")
    built = [gemv.build({"lanes": 8, "floorplan": "LFE5U-85F"}), gemv.build({"lanes": 8}),
             gemv.build({"lanes": 8, "weight_bits": 4, "floorplan": "LFE5U-85F"})]
    for arr in built:
        arr._MustUse__silence = True          # only inspected here, never elaborated
    assert built[0].dsp_bels == serpentine_sites("LFE5U-85F", 8)
    assert built[1].dsp_bels is None
    assert built[2].dsp_bels == serpentine_sites("LFE5U-85F", 4)


def test_build_cli_rejects_a_floorplan_of_another_die(tmp_path, capsys):
    build_py = load_tool("build")
    argv = ["--design", "gemv", "--param", "floorplan=LFE5U-85F", "--device", "LFE5U-25F",
            "--out", str(tmp_path), "--quiet"]
    assert build_py.main(argv) == 2
    assert "floorplan=LFE5U-85F names sites of another die than the build's device " \
           "LFE5U-25F" in capsys.readouterr().err


@pytest.mark.synth
def test_nextpnr_places_the_floorplan(tmp_path):
    """nextpnr-ecp5 takes every site of the floorplan as a placement constraint."""
    gemv = designs.get("gemv")
    params = designs.resolve_params(gemv, {"lanes": 4, "max_n": 64, "floorplan": "LFE5U-85F"})
    rep = build_ooc(lambda: gemv.factory(params), out_dir=tmp_path, design="gemv",
                    params=params, device="LFE5U-85F", clock_mhz=50)
    assert rep["status"] == "ok"
    assert rep["core_utilization"]["MULT18X18D"]["used"] == 4
    log = (tmp_path / "nextpnr.log").read_text()
    assert "Placed 4 cells based on constraints" in log
