"""Formal: stream rules of the UART receiver/transmitter and the host bridge (bounded model
check with covers, so a block that never transfers cannot pass vacuously)."""

import pytest

from attnkit.hdl.host_bridge import HostBridge
from attnkit.hdl.uart import UARTRx, UARTTx
from attnkit.sim.formal import check_stream_rules

pytestmark = pytest.mark.formal


def test_uart_tx_stream_rules():
    # one byte is accepted at once, the next after 10 bit times: covers need ~10*4 cycles
    assert check_stream_rules(UARTTx(4), depth=12, timeout_s=600).passed


def test_uart_rx_stream_rules():
    # a byte takes 4//2 + 9*4 + 1 cycles from the start edge to o_stream (no synchroniser)
    assert check_stream_rules(UARTRx(4, sync_stages=0), depth=44, timeout_s=900).passed


def test_host_bridge_stream_rules():
    # a 6-byte PING frame (no payload) arrives in 6 cycles; the reply starts 2 cycles later
    assert check_stream_rules(HostBridge(max_payload=8, timeout=4), depth=16,
                              timeout_s=900).passed
