"""Constant and per-neuron products of the generated cores as Verilog expressions: a multiplier,
or on the multiplier-free ("shift-add") datapath shifts, adds and subtracts (fpga.rtl and
fpga.adaptive use them)."""

from __future__ import annotations

FACTOR_BITS = 13  # a decay factor 4096 - (du + 1), 4096 - dv, ... lies in 0..4096


def csd(n: int) -> list[tuple[int, int]]:
    """(sign, shift) terms of n's canonical signed-digit form: n = sum sign * 2^shift, with the
    fewest nonzero digits (no two adjacent)."""
    terms, i = [], 0
    while n:
        if n & 1:
            digit = 2 - (n & 3)  # +1 if n = 1 mod 4, -1 if n = 3 mod 4
            terms.append((digit, i))
            n -= digit
        n >>= 1
        i += 1
    return terms


def product(sig: str, bits: int, factor: int | str, decay: str) -> str:
    """sig * factor in `bits` bits (sig already sign-extended): a multiplier, or for "shift-add"
    the factor's canonical signed digits as shifts, adds and subtracts (the same integer mod
    2^bits, and exact since |product| < 2^(bits - 1)), so the core has no multiplier. A factor
    read from the parameter memory (a signal name, FACTOR_BITS unsigned) is a multiplier, or for
    "shift-add" one masked shifted copy of sig per factor bit, summed."""
    if isinstance(factor, str):
        if decay == "multiply":
            return f"$signed({sig}) * $signed({{{bits - FACTOR_BITS}'d0, {factor}}})"
        return "\n        + ".join(f"({{{bits}{{{factor}[{k}]}}}} & ({sig} << {k}))" if k else
                                    f"({{{bits}{{{factor}[0]}}}} & {sig})"
                                    for k in range(FACTOR_BITS))
    if decay == "multiply":
        return f"$signed({sig}) * $signed({bits}'d{factor})"
    return shift_add(sig, factor)


def shift_add(sig: str, factor: int) -> str:
    """sig * factor (factor > 0) as shifts, adds and subtracts of sig (canonical signed digits)."""
    parts = []
    for sign, shift in reversed(csd(factor)):  # the top digit of a positive factor is +1
        term = f"({sig} << {shift})" if shift else sig
        parts.append(term if not parts else f"{'+' if sign > 0 else '-'} {term}")
    return " ".join(parts)
