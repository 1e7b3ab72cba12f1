"""How `lower` evaluates a chain of nn synapse ops: by the float reference's own rule for each op
(the definition of what the op computes), batch-wise in float64, with or without its bias."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir.op import Op
from snncompile.sim.reference import RULES


def has_rule(op_type: type[Op]) -> bool:
    """A synapse op type `lower` can push values through."""
    return op_type.kind == "synapse" and op_type in RULES


def apply(op: Any, x: np.ndarray, bias: bool) -> np.ndarray:
    """y = op(x) per sample, x (batch, *in_shape); `bias` False gives the linear part exactly."""
    if not bias and getattr(op, "bias", None) is not None:
        op = op.replace(bias=np.zeros_like(op.bias))
    rule = RULES[type(op)]
    return rule.step(rule.prepare(op, 1.0, np.float64), x, {})
