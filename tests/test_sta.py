"""``attnkit.boards.sta``: arrival times from an SDF, hand-written here in nextpnr's form
(real builds: ``tests/test_build_synth.py`` checks it against nextpnr's own Fmax)."""

import pytest

from attnkit.boards.sta import analyse, format_summary, main, summary, unit_of


def _cell(ctype, inst, iopaths=(), setups=()):
    paths = "".join(f"        (IOPATH {i} {o} (0:0:{d}) (0:0:{d}))\n" for i, o, d in iopaths)
    checks = "".join(f"      (SETUPHOLD (posedge {p}) (posedge CLK) (0:0:{s}) (0:0:0))\n"
                     for p, s in setups)
    return (f"  (CELL\n    (CELLTYPE \"{ctype}\")\n    (INSTANCE {inst})\n    (DELAY\n"
            f"      (ABSOLUTE\n{paths}      )\n    )\n"
            + (f"    (TIMINGCHECK\n{checks}    )\n" if checks else "") + "    )\n")


def _sdf(nets, cells):
    inter = "".join(f"        (INTERCONNECT {a} {b} (0:0:{d}) (0:0:{d}))\n" for a, b, d in nets)
    top = (f"  (CELL\n    (CELLTYPE \"top\")\n    (INSTANCE )\n    (DELAY\n      (ABSOLUTE\n"
           f"{inter}      )\n    )\n    )\n")
    return ("(DELAYFILE\n  (SDFVERSION \"3.0\")\n  (DESIGN \"top\")\n  (TIMESCALE 1ps)\n"
            + top + "".join(cells) + ")\n")


def _ff(name, setup=100):
    return _cell("TRELLIS_FF", name, [("CLK", "Q", 500)], [("DI", setup)])


# acc0 -> lut -> acc1 (the long path: 500 + 2000 + 250 + 1500 + 100 = 4350 ps) and
# acc0 -> acc2 directly (500 + 300 + 100 = 900 ps); a block RAM's clock-to-out (900 ps)
# -> acc3 (900 + 3500 + 100 = 4500 ps)
NETS = [("core.acc0_TRELLIS_FF_Q/Q", "core.acc0_LUT4_Z/A", 2000),
        ("core.acc0_LUT4_Z/F", "core.acc1_TRELLIS_FF_Q/DI", 1500),
        ("core.acc0_TRELLIS_FF_Q/Q", "core.acc2_TRELLIS_FF_Q/DI", 300),
        ("core.ram.ebr0/DOB0", "core.acc3_TRELLIS_FF_Q/DI", 3500)]
CELLS = [_ff("core.acc0_TRELLIS_FF_Q"), _ff("core.acc1_TRELLIS_FF_Q"), _ff("core.acc2_TRELLIS_FF_Q"),
         _ff("core.acc3_TRELLIS_FF_Q"),
         _cell("TRELLIS_COMB", "core.acc0_LUT4_Z", [("A", "F", 250), ("B", "F", 250)]),
         _cell("DP16KD", "core.ram.ebr0", [("CLKB", "DOB0", 900)])]


def test_arrival_times_and_endpoints():
    t = analyse(_sdf(NETS, CELLS))
    assert t.endpoints == pytest.approx({
        "core.acc1_TRELLIS_FF_Q/DI": 4.35, "core.acc2_TRELLIS_FF_Q/DI": 0.9,
        "core.acc3_TRELLIS_FF_Q/DI": 4.5})
    assert [p for p, _ in t.path("core.acc1_TRELLIS_FF_Q/DI")] == [
        "core.acc0_TRELLIS_FF_Q/Q", "core.acc0_LUT4_Z/A", "core.acc0_LUT4_Z/F",
        "core.acc1_TRELLIS_FF_Q/DI"]


def test_summary_groups_failing_endpoints_by_unit():
    s = summary(analyse(_sdf(NETS, CELLS)), 4.0, paths=1)
    assert (s["endpoints"], s["failing"], s["worst_ns"]) == (3, 2, 4.5)
    assert s["groups"] == [{"from": "core.ram.ebr#", "to": "core.acc#", "endpoints": 1,
                            "worst_ns": 4.5},
                           {"from": "core.acc#", "to": "core.acc#", "endpoints": 1,
                            "worst_ns": 4.35}]
    # arrival times along the path (the endpoint adds its setup time: 4.4 + 0.1)
    assert s["paths"] == [[["core.ram.ebr0/DOB0", 0.9], ["core.acc3_TRELLIS_FF_Q/DI", 4.4]]]
    assert summary(analyse(_sdf(NETS, CELLS)), 5.0)["failing"] == 0
    assert "2 of 3 endpoints need more than 4 ns; worst 4.500 ns (222.2 MHz)" in format_summary(s)


def test_units():
    assert unit_of("core.vprod5_b7_ff7/Q") == "core.vprod#_b#_ff#"
    assert unit_of("core.oacc61_TRELLIS_FF_Q_34/DI") == "core.oacc#"
    assert unit_of("core.vacc61_ccu6$CCU2_COMB1/B") == "core.vacc#_ccu#"
    assert unit_of("core.topk.h2_TRELLIS_FF_Q_CE_LUT4_Z/D") == "core.topk.h#"


def test_loops_and_empty_sdfs_are_errors():
    loop = NETS + [("core.acc0_LUT4_Z/F", "core.acc0_LUT4_Z/B", 100)]
    with pytest.raises(ValueError, match="loop"):
        analyse(_sdf(loop, CELLS))
    with pytest.raises(ValueError, match="no setup checks"):
        analyse(_sdf([], [_cell("TRELLIS_COMB", "x", [("A", "F", 1)])]))


def test_command_line(tmp_path, capsys):
    (tmp_path / "top.sdf").write_text(_sdf(NETS, CELLS))
    assert main([str(tmp_path / "top.sdf"), "--mhz", "250", "--paths", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 endpoints need more than 4 ns" in out and "core.ram.ebr0/DOB0" in out
