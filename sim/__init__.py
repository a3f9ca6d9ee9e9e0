"""Simulation harness: stream drivers, cocotb runner, formal checks."""
