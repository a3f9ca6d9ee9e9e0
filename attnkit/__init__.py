"""attnkit: FPGA attention accelerators in Amaranth HDL.

Subpackages (each maps to a top-level folder of the repository):

- :mod:`attnkit.golden` (``golden/``): bit-exact NumPy models and number formats.
- :mod:`attnkit.hdl` (``hdl/``): Amaranth gateware components.
- :mod:`attnkit.sim` (``sim/``): simulation harness (stream drivers, cocotb, formal).
- :mod:`attnkit.boards` (``boards/``): ECP5 devices, boards, toolchain flow, host link.
"""

__version__ = "0.1.0"
