"""How `lower` evaluates a chain of nn synapse ops: by the float reference's own rule for each op
(the definition of what the op computes), batch-wise in float64, with or without its bias."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import nn_ops
from snncompile.ir.op import Op
from snncompile.sim.reference import RULES

DENSE = (nn_ops.Linear, nn_ops.Affine)


def has_rule(op_type: type[Op]) -> bool:
    """A synapse op type `lower` can push values through."""
    return op_type.kind == "synapse" and op_type in RULES


def apply(op: Any, x: np.ndarray, bias: bool, prepared: dict | None = None) -> np.ndarray:
    """y = op(x) per sample, x (batch, *in_shape); `bias` False gives the linear part exactly.
    `prepared` (a dict the caller keeps for one lowering) holds each op's constants once: a Dense
    rule copies its weight when prepared, and lower evaluates every chain several times."""
    key = (id(op), bias)
    if isinstance(op, DENSE) and (prepared is None or key not in prepared) and not x.any():
        return _dense_of_zeros(op, len(x), bias)  # a bias evaluation: no weight copy
    if prepared is None or key not in prepared:
        run = op.replace(bias=np.zeros_like(op.bias)) if not bias and getattr(
            op, "bias", None) is not None else op
        rule = RULES[type(run)]
        entry = (op, rule, rule.prepare(run, 1.0, np.float64))  # op kept: its id stays its own
        if prepared is None:
            return entry[1].step(entry[2], x, {})
        prepared[key] = entry
    _, rule, consts = prepared[key]
    return rule.step(consts, x, {})


def _dense_of_zeros(op: Any, batch: int, bias: bool) -> np.ndarray:
    """What the Dense rule gives for an all-zero input (its zero product plus the bias), made
    without preparing (transposing a copy of) the weight."""
    y = np.zeros((batch, op.weight.shape[0]))
    b = getattr(op, "bias", None)
    return y + np.asarray(b, np.float64) if bias and b is not None else y
