"""ECP5 devices and boards, the toolchain flow, hardware profiles and the host link."""
