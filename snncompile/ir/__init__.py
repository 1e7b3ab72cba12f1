"""Graph IR at two levels: `nn` (float, continuous-time NIR semantics) and `hw` (integer,
discrete time)."""

from snncompile.ir.graph import Graph

__all__ = ["Graph"]
