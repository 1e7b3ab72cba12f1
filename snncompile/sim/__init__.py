"""Interpreters that define meaning: the float reference (nn graphs) and the integer emulator
(hw graphs)."""
