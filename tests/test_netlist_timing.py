"""``attnkit.boards.netlist_timing``: the delay model on hand-built netlists (values computed
from the documented cell delays), grouping, and a synthesised design's netlist."""

import json

import pytest

from attnkit.boards import netlist_timing as nt


def _cell(kind, conns, dirs, params=None):
    return {"type": kind, "connections": conns, "port_directions": dirs,
            "parameters": params or {}}


def _ff(name, d, q):
    return name, _cell("TRELLIS_FF", {"CLK": [1], "DI": [d], "Q": [q]},
                       {"CLK": "input", "DI": "input", "Q": "output"})


def _lut(name, ins, z):
    ports = dict(zip("ABCD", ([i] for i in ins)))
    ports["Z"] = [z]
    return name, _cell("LUT4", ports, {**{p: "input" for p in "ABCD"}, "Z": "output"})


def _netlist(cells):
    return {"modules": {"top": {"attributes": {"top": 1}, "cells": dict(cells)}}}


def test_lut_chain_and_fanout():
    # a_q -> lut1 -> lut2 -> b ; a_q also feeds c directly; lut1 drives two sinks
    cells = [_ff("core.a_TRELLIS_FF_Q", 2, 10), _lut("core.x_LUT4_Z", [10, 10, 10, 10], 11),
             _lut("core.y_LUT4_Z", [11, 11, 11, 11], 12), _ff("core.b_TRELLIS_FF_Q", 12, 13),
             _ff("core.c12_TRELLIS_FF_Q", 10, 14), _ff("core.c13_TRELLIS_FF_Q_1", 11, 15)]
    ends = nt.estimate(_netlist(cells), hop=1.0, fanout=0.0)
    by = {e.cell: e for e in ends}
    assert by["core.b_TRELLIS_FF_Q"].delay_ns == pytest.approx(0.52 + 3 * 1.0 + 2 * 0.24)
    assert by["core.c12_TRELLIS_FF_Q"].delay_ns == pytest.approx(0.52 + 1.0)
    assert ends[0].cell == "core.b_TRELLIS_FF_Q"                  # longest first
    assert [d for _, d in by["core.b_TRELLIS_FF_Q"].path] == [
        "core.a_TRELLIS_FF_Q", "core.x_LUT4_Z", "core.y_LUT4_Z"]
    assert by["core.c13_TRELLIS_FF_Q_1"].group == by["core.c12_TRELLIS_FF_Q"].group == "core.c#"
    # with a fan-out cost: a_q has 5 sinks (3 bits for 4 extra), lut1 has 5 (x's D pin and c13 ...)
    slow = {e.cell: e for e in nt.estimate(_netlist(cells), hop=1.0, fanout=0.5)}
    assert slow["core.c12_TRELLIS_FF_Q"].delay_ns == pytest.approx(0.52 + 1.0 + 0.5 * 3)


def test_carry_chain_and_block_ram_output_register():
    ccu = lambda name, a, cin, s, cout: (name, _cell(  # noqa: E731
        "CCU2C", {"A0": [a], "CIN": [cin] if cin else ["0"], "S0": [s], "COUT": [cout]},
        {"A0": "input", "CIN": "input", "S0": "output", "COUT": "output"}))
    ebr = lambda name, mode, do: (name, _cell(  # noqa: E731
        "DP16KD", {"CLKB": [1], "DOB0": [do]}, {"CLKB": "input", "DOB0": "output"},
        {"REGMODE_B": mode}))
    cells = [_ff("a_TRELLIS_FF_Q", 2, 10), ccu("c0_CCU2C", 10, None, 20, 21),
             ccu("c1_CCU2C", 10, 21, 22, 23), ccu("c2_CCU2C", 10, 23, 24, 25),
             _ff("s_TRELLIS_FF_Q", 24, 30),
             ebr("r_DP16KD", "NOREG", 40), _ff("e_TRELLIS_FF_Q", 40, 41),
             ebr("o_DP16KD", "OUTREG", 42), _ff("f_TRELLIS_FF_Q", 42, 43)]
    by = {e.cell: e for e in nt.estimate(_netlist(cells), hop=1.0, fanout=0.0)}
    # A0 of the first cell: entry; two carry steps; the sum out of the last cell
    assert by["s_TRELLIS_FF_Q"].delay_ns == pytest.approx(
        0.52 + 1.0 + nt.CARRY_IN + nt.CARRY_STEP + nt.CARRY_STEP + nt.CARRY_SUM + 1.0)
    assert by["e_TRELLIS_FF_Q"].delay_ns == pytest.approx(nt.EBR_CLK_TO_Q["NOREG"] + 1.0)
    assert by["f_TRELLIS_FF_Q"].delay_ns == pytest.approx(nt.EBR_CLK_TO_Q["OUTREG"] + 1.0)


def test_combinational_loop_terminates_and_one_top_required():
    cells = [_lut("p_LUT4_Z", [11, 11, 11, 11], 10), _lut("q_LUT4_Z", [10, 10, 10, 10], 11),
             _ff("r_TRELLIS_FF_Q", 11, 12)]
    assert len(nt.estimate(_netlist(cells))) == 1
    with pytest.raises(ValueError, match="one top module"):
        nt.estimate({"modules": {}})


def test_cli_on_a_synthesised_netlist(tmp_path, capsys):
    cells = [_ff("core.a_TRELLIS_FF_Q", 2, 10), _lut("core.x_LUT4_Z", [10, 10, 10, 10], 11),
             _ff("core.b_TRELLIS_FF_Q", 11, 12)]
    path = tmp_path / "top.json"
    path.write_text(json.dumps(_netlist(cells)))
    assert nt.main([str(path), "--hop", "1", "--fanout", "0", "--over", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 endpoints, 1 above 2 ns" in out and "core.b" in out and "2.76 ns" in out
