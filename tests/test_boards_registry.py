"""Board registry, PLL parameters and the board top level (elaboration only, no toolchain)."""

import pytest

from attnkit.boards import ecp5
from attnkit.boards.pll import PLL_LIMITS, PLLError, pll_params
from attnkit.boards.registry import BOARDS, board, board_names, platform_for
from attnkit.boards.top import BoardTop, default_params

SMALL = dict(lanes=8, max_n=64, max_m=64, w_words=64)

EXPECTED_BOARDS = {"ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f", "orangecrab-25f",
                   "orangecrab-85f", "ecpix5-45f", "ecpix5-85f", "versa-ecp5", "ecp5-5g-evn",
                   "colorlight-5a75b"}


def test_registry_names_and_lookup():
    assert set(board_names()) == EXPECTED_BOARDS
    assert board("ULX3S-85F").device_name == "LFE5U-85F"
    with pytest.raises(ValueError, match="unknown board 'ulx4s'; valid boards: ulx3s-12f"):
        board("ulx4s")
    with pytest.raises(TypeError, match="board name must be a string, not 3"):
        board(3)


@pytest.mark.parametrize("name", sorted(EXPECTED_BOARDS))
def test_profile_matches_platform(name):
    prof = board(name)
    plat = platform_for(name)
    # the profile's part is the platform's part, and its counts are the device table's
    assert plat.device == prof.device_name
    assert plat.package == prof.package
    assert int(plat.speed) == prof.speed
    dev = ecp5.device(prof.device_name)
    assert prof.resources == {"lut4": dev.lut4, "ff": dev.ff, "mult18": dev.mult18,
                              "ebr": dev.ebr}
    assert prof.nextpnr_package in dev.packages
    # clock: resource and frequency as the platform defines them
    assert plat.default_clk == prof.clock_resource
    clk = plat.lookup(prof.clock_resource, 0)
    assert clk.clock.frequency == prof.clock_mhz * 1e6
    # the UART pins the profile documents are those of the platform's uart 0
    uart = plat.lookup("uart", 0)
    pins = {sub.name: sub.ios[0] for sub in uart.ios if sub.name in ("rx", "tx")}
    rx_names = pins["rx"].map_names(plat._conn_pins, uart) if hasattr(pins["rx"], "map_names") \
        else pins["rx"].names
    tx_names = pins["tx"].map_names(plat._conn_pins, uart) if hasattr(pins["tx"], "map_names") \
        else pins["tx"].names
    assert list(rx_names) == [prof.uart.rx_pin]
    assert list(tx_names) == [prof.uart.tx_pin]
    d = prof.as_dict()
    for key in ("device", "package", "speed", "resources", "clock", "uart", "memory"):
        assert key in d
    assert d["memory"]["source"] and d["uart"]["source"]


def test_memory_bandwidth_figures():
    # ULX3S: 16-bit SDR at 166 MHz -> 2 bytes per clock
    assert board("ulx3s-85f").memory.peak_bandwidth == pytest.approx(2 * 166e6)
    # ECPIX-5: 16-bit DDR3 at the ECP5 I/O limit of 400 MHz, two transfers per clock
    assert board("ecpix5-85f").memory.peak_bandwidth == pytest.approx(2 * 400e6 * 2)
    assert board("ecpix5-85f").memory.size_bytes == 512 << 20
    assert board("ulx3s-25f").memory.size_bytes == 32 << 20
    assert board("ulx3s-25f").uart.max_baud == 3_000_000


@pytest.mark.parametrize("f_in,f_out", [(25, 50), (25, 100), (12, 60), (48, 96),
                                        (100, 75), (25, 133.333)])
def test_pll_params_within_limits(f_in, f_out):
    p = pll_params(f_in, f_out)
    assert p.f_out == pytest.approx(f_in * p.clkfb_div / p.clki_div)
    assert abs(p.f_out - f_out) / f_out <= 0.01
    assert 400 <= p.f_out * p.clkop_div <= 800                    # VCO
    assert 3.125 <= f_in / p.clki_div <= 400                      # PFD
    for div in (p.clki_div, p.clkfb_div, p.clkop_div):
        assert 1 <= div <= 128
    params = p.instance_params()
    assert params["p_CLKOP_DIV"] == p.clkop_div and params["p_FEEDBK_PATH"] == "CLKOP"


def test_pll_exact_cases():
    # 25 -> 50 MHz: the exact solution (fb/ref = 2) must be found
    p = pll_params(25, 50)
    assert p.f_out == 50 and p.clkfb_div == 2 * p.clki_div


def test_pll_errors_name_the_limit():
    with pytest.raises(PLLError, match=r"f_out = 500 MHz is outside the ECP5 PLL range "
                                       r"3.125..400 MHz"):
        pll_params(25, 500)
    with pytest.raises(PLLError, match=r"f_in = 5 MHz is outside"):
        pll_params(5, 50)
    with pytest.raises(PLLError, match=r"cannot make 50 MHz from 48 MHz within 1.0%"):
        pll_params(48, 50)
    assert PLL_LIMITS["f_vco"] == (400.0, 800.0)


def test_default_params_fit_the_dsps():
    assert default_params("ulx3s-85f")["lanes"] == 128
    assert default_params("ulx3s-25f")["lanes"] == 16
    for name in BOARDS:
        assert default_params(name)["lanes"] < board(name).device.mult18


@pytest.mark.parametrize("name", sorted(EXPECTED_BOARDS))
def test_every_board_elaborates(name):
    plat = platform_for(name)
    top = BoardTop(name, **SMALL)
    plan = plat.prepare(top, name="top")
    il = plan.files["top.il"]
    assert "EHXPLLL" not in il                     # board clock kept: no PLL
    # the UART pins and at least one status LED (where the board has a free one) are wired
    assert "uart_0__rx__io" in il and "uart_0__tx__io" in il
    if board(name).leds:
        assert "led_0__io" in il or "rgb_led_0__r__io" in il
    lpf = plan.files["top.lpf"]
    assert f'LOCATE COMP "uart_0__rx__io" SITE "{board(name).uart.rx_pin}"' in lpf


def test_board_top_with_pll_elaborates():
    plat = platform_for("ulx3s-25f")
    top = BoardTop("ulx3s-25f", clock_mhz=50, **SMALL)
    assert top.divisor == 50                       # 50 MHz / 1 Mbaud
    il = plat.prepare(top, name="top").files["top.il"]
    assert "EHXPLLL" in il and "CLKFB_DIV" in il


def test_board_top_errors():
    with pytest.raises(ValueError, match="f_out = 450 MHz is outside"):
        BoardTop("ulx3s-25f", clock_mhz=450, **SMALL)
    with pytest.raises(ValueError, match="baud 3000000 cannot be made from a 25 MHz clock"):
        BoardTop("ulx3s-25f", baud=3_000_000, **SMALL)


def test_board_top_with_all_engines_elaborates():
    plat = platform_for("ulx3s-85f")
    top = BoardTop("ulx3s-85f", softmax=True, attention=True, **SMALL)
    assert top.system.softmax is not None and top.system.attention is not None
    il = plat.prepare(top, name="top").files["top.il"]
    assert "softmax" in il and "attention" in il
    with pytest.raises(TypeError, match="softmax must be a bool, not 1"):
        BoardTop("ulx3s-85f", softmax=1, **SMALL)
