"""Bit widths of the fpga datapath: one definition for the plan, the conv walker and the RTL."""

from __future__ import annotations


def clog2(n: int) -> int:
    """Bits to count 0..n-1, at least 1 (Verilog has no zero-width vectors)."""
    return max(1, (int(n) - 1).bit_length())


def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement width holding every integer in [lo, hi] (at least 2)."""
    bits = 2
    while lo < -(1 << (bits - 1)) or hi > (1 << (bits - 1)) - 1:
        bits += 1
    return bits
