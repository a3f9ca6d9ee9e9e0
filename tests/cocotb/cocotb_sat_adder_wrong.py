"""A cocotb test that MUST fail: the SatAdder run with one expected value perturbed.

``tests/test_sim_cocotb.py`` runs it to show that ``run_cocotb`` reports a failing cocotb test
(so the runner is not vacuous). Never run it expecting a pass.
"""

import cocotb

from cocotb_sat_adder import run_case


@cocotb.test()
async def sat_adder_wrong_expectation(dut):
    await run_case(dut, 0.3, corrupt=True)
