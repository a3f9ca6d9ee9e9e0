"""Shared pytest configuration: marker tiers and seed reporting; slow tiers run first."""

#: Tiers whose tests take seconds to minutes each (solver runs, place and route, Verilator
#: builds). They are moved to the front of the run, so under ``pytest -n 2`` the longest
#: ones start at once on both workers instead of ending the run on one of them.
SLOW_TIERS = ("formal", "synth", "cocotb")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: not any(item.get_closest_marker(t) for t in SLOW_TIERS))
