# amaranth: UnusedElaboratable=no
"""Floorplans (boards/floorplan.py) and their use by the GEMV array, the attention engine and
the build flow."""

import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from attnkit.boards import designs, ecp5
from attnkit.boards.floorplan import (FLOORPLAN_DEVICES, HARD_CELLS, apply_sites, attention_sites,
                                      hard_cells, mult18_rows, serpentine_sites)
from attnkit.boards.toolchain import DesignError, build_ooc
from attnkit.hdl.dsp import Mult18
from attnkit.hdl.ebr import RegisteredRAM
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


# ------------------------------------------------------------------ attention engine


def _hard_instances(elaboratable, platform):
    """``{path: type}`` of the DP16KD / MULT18X18D instances, paths as Yosys flattens them."""
    from amaranth.hdl import Fragment, Instance

    def walk(frag, path):
        for sub, name, _ in frag.subfragments:
            if isinstance(sub, Instance):
                if sub.type in HARD_CELLS:
                    yield ".".join(path + [name]), sub.type
            else:
                yield from walk(sub, path + [name])
    return dict(walk(Fragment.get(elaboratable, platform), []))


_ANY_SITE = re.compile(r"X(\d+)/Y(\d+)/(MULT18_[0145]|EBR[0-3])")


@pytest.mark.parametrize("params", [{}, {"lanes": 4, "d": 32, "t_max": 1024}])
def test_attention_sites_one_band_by_lane(params):
    eng = designs.get("attention").build(params)
    cells = _hard_instances(eng, ecp5.amaranth_platform("LFE5U-85F", "CABGA381", 6))
    lanes = eng.lanes
    assert {f"{u}mul{i}.mult" for u in "sv" for i in range(lanes)} <= set(cells)
    sites = attention_sites("LFE5U-85F", cells)
    assert set(sites) == set(cells) and len(set(sites.values())) == len(sites)
    xy = {}
    for path, site in sites.items():
        m = _ANY_SITE.fullmatch(site)
        assert m, site
        assert (m[3].startswith("EBR")) == (cells[path] == "DP16KD"), (path, site)
        xy[path] = int(m[1]), int(m[2])
    # K in the first block-RAM row, V in the second; the scorer's (and the softmax's, the
    # score requantizer's) multipliers in the DSP row between, p.V and the output
    # requantizer's in the DSP row under the V RAMs
    for path, (x, y) in xy.items():
        want = (58 if path.startswith(("vmul", "orq")) else 34) if cells[path] == "MULT18X18D" \
            else 46 if path.startswith("v_mem") else 22
        assert y == want, (path, sites[path])
    # lane i: its scorer and p.V multipliers in the same sysDSP block column, under its K
    # block RAMs
    for i in range(lanes):
        xs, xv = xy[f"smul{i}.mult"][0], xy[f"vmul{i}.mult"][0]
        assert xv - xs == 4, (i, sites[f"smul{i}.mult"], sites[f"vmul{i}.mult"])
        k_cols = [x for p, (x, _) in xy.items() if re.fullmatch(rf"k_(hi|lo)\.ebr{i}", p)]
        assert len(k_cols) == 2 and all(0 <= x - (xs - i % 2) <= 8 for x in k_cols), k_cols
    # the whole floorplan spans at most 8 sysDSP blocks' width (9 columns each) of the die
    cols = [x for x, _ in xy.values()]
    assert max(cols) - min(cols) < 8 * 9


def test_attention_sites_errors():
    with pytest.raises(ValueError, match="no DSP floorplan for LFE5U-45F"):
        attention_sites("LFE5U-45F", {"smul0.mult": "MULT18X18D"})
    with pytest.raises(ValueError, match="places MULT18X18D and DP16KD, not LUT4"):
        attention_sites("LFE5U-85F", {"x.lut": "LUT4"})
    with pytest.raises(ValueError, match=r"scorer lanes \[0, 1\] and p.V lanes \[0\] differ"):
        attention_sites("LFE5U-85F", {"smul0.mult": "MULT18X18D", "smul1.mult": "MULT18X18D",
                                      "vmul0.mult": "MULT18X18D"})
    wide = {f"{u}mul{i}.mult": "MULT18X18D" for u in "sv" for i in range(28)}
    with pytest.raises(ValueError, match="needs 0 \\+ 14 \\+ 0 blocks of a row, the die has 13"):
        attention_sites("LFE5U-85F", wide)


def test_apply_sites_checks_the_netlist():
    def netlist():
        return {"modules": {"top": {"cells": {
            "core.a.ebr0": {"type": "DP16KD", "attributes": {}},
            "core.m.mult": {"type": "MULT18X18D"},
            "core.lut": {"type": "LUT4"},
            "ooc_x": {"type": "MULT18X18D"}}}}}
    n = netlist()
    assert hard_cells(n, prefix="core.") == {"a.ebr0": "DP16KD", "m.mult": "MULT18X18D"}
    sites = {"a.ebr0": "X40/Y22/EBR0", "m.mult": "X40/Y34/MULT18_0"}
    assert apply_sites(n, sites, prefix="core.") == 2
    cells = n["modules"]["top"]["cells"]
    assert cells["core.a.ebr0"]["attributes"]["BEL"] == "X40/Y22/EBR0"
    assert cells["core.m.mult"]["attributes"]["BEL"] == "X40/Y34/MULT18_0"
    assert "BEL" not in cells["ooc_x"].get("attributes", {})
    with pytest.raises(ValueError, match="no site for: core.m.mult"):
        apply_sites(netlist(), {"a.ebr0": "X40/Y22/EBR0"}, prefix="core.")
    with pytest.raises(ValueError, match="no such cell: core.lut"):
        apply_sites(netlist(), {**sites, "lut": "X1/Y1/SLICEA"}, prefix="core.")


def test_registry_attention_floorplan_parameter():
    att = designs.get("attention")
    assert att.sites(designs.resolve_params(att, {})) is None
    plan = att.sites(designs.resolve_params(att, {"floorplan": "LFE5U-85F"}))
    cells = {"smul0.mult": "MULT18X18D", "vmul0.mult": "MULT18X18D"}
    assert plan(cells) == attention_sites("LFE5U-85F", cells)
    # the engine itself takes no floorplan: the same engine with and without
    platform = ecp5.amaranth_platform("LFE5U-85F", "CABGA381", 6)
    assert _hard_instances(att.build({"floorplan": "LFE5U-85F"}), platform) \
        == _hard_instances(att.build({}), platform)


class _TwoHardCells(wiring.Component):
    """One block RAM and one multiplier, for the flow's ``sites`` hook."""
    a: In(signed(18))
    p: Out(signed(36))
    q: Out(4)

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = RegisteredRAM(4, 16)
        m.submodules.mul = mul = Mult18()
        m.d.comb += [ram.w_en.eq(1), ram.w_addr.eq(self.a[:4]), ram.w_data.eq(self.a[4:8]),
                     ram.r_en.eq(1), ram.r_addr.eq(self.a[8:12]), self.q.eq(ram.r_data),
                     mul.a.eq(self.a), mul.b.eq(self.a), self.p.eq(mul.p)]
        return m


@pytest.mark.synth
def test_flow_applies_a_netlist_floorplan(tmp_path):
    """build_ooc(sites=...) puts the core's cells where the floorplan says, and reports it."""
    seen = {}

    def sites(cells):
        seen.update(cells)
        return {"ram.ebr0": "X62/Y46/EBR2", "mul.mult": "X62/Y34/MULT18_4"}
    rep = build_ooc(_TwoHardCells(), out_dir=tmp_path, design="two", device="LFE5U-85F",
                    clock_mhz=50, sites=sites)
    assert seen == {"ram.ebr0": "DP16KD", "mul.mult": "MULT18X18D"}
    assert rep["status"] == "ok" and rep["floorplan_cells"] == 2
    assert "- Floorplan: 2 block RAMs and DSPs on fixed sites" in \
        (tmp_path / "report.md").read_text()
    log = (tmp_path / "nextpnr.log").read_text()
    assert "Placed 2 cells based on constraints" in log


def test_flow_rejects_a_floorplan_that_misses_a_cell(tmp_path):
    with pytest.raises(DesignError, match="floorplan: the floorplan does not match the "
                                          "netlist: no site for: core.mul.mult"):
        build_ooc(_TwoHardCells(), out_dir=tmp_path, design="two", device="LFE5U-85F",
                  clock_mhz=50, sites=lambda cells: {"ram.ebr0": "X62/Y46/EBR2"})
