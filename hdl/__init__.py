"""Amaranth gateware components. May import attnkit.golden, never sim/boards/tools."""
