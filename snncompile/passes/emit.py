"""What quantize's integer codes become: the hw synapse ops and the report rows of a layer, and
the report's per-neuron fields (shared value or list, parameter groups)."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.lowered_ops import GroupedConv, GroupedSparse
from snncompile.ir.sparse import nonzero_sparse
from snncompile.passes.assemble import Incoming
from snncompile.passes.encode import WeightCode
from snncompile.passes.report import SynapseQuant


def shared_or_list(values: np.ndarray) -> int | tuple[int, ...]:
    """A report field: the one value all neurons share, or every neuron's (flat, C order)."""
    flat = np.asarray(values).reshape(-1)
    return int(flat[0]) if np.all(flat == flat[0]) else tuple(int(v) for v in flat)


def param_groups(op: Any) -> int:
    """Distinct integer tuples of a hw neuron's per-neuron fields (LIF: du, dv, vth; ATRLIF: its
    deltas, theta_0, theta_step): the populations Lava's own LIF / ATRLIF would need if the layer
    were split into groups that share them (1 for a uniform layer)."""
    if not isinstance(op, (hw.LIF, hw.ATRLIF)) or not op.heterogeneous:
        return 1
    n = int(np.prod(op.shape))
    cols = [np.broadcast_to(np.asarray(getattr(op, k)), op.shape).reshape(n)
            for k in op.PER_NEURON]
    return len(np.unique(np.stack(cols, axis=1), axis=0))


def hw_synapse(s: Incoming, code: WeightCode, bits: int = 8) -> Any:
    """The hw op (Conv, Sparse, DelayDense or Dense) holding a grouped synapse's integer code."""
    op = s.op
    if isinstance(op, GroupedConv):
        return hw.Conv(code.weights, stride=op.stride, padding=op.padding,
                       dilation=op.dilation, groups=op.groups)
    if isinstance(op, GroupedSparse):
        return nonzero_sparse(op.matrix_shape, op.indptr, op.indices, code.weights,
                              weight_exp=code.weight_exp, num_weight_bits=bits,
                              sign_mode=code.sign_mode)
    if op.delays is not None:
        return hw.DelayDense(code.weights, weight_exp=code.weight_exp, num_weight_bits=bits,
                             sign_mode=code.sign_mode, delays=op.delays)
    return hw.Dense(code.weights, weight_exp=code.weight_exp, num_weight_bits=bits,
                    sign_mode=code.sign_mode)


def synapse_report(name: str, source: str, kind: str, code: WeightCode) -> SynapseQuant:
    """The report row of one synapse's code."""
    return SynapseQuant(name, source, kind, code.sign_mode, code.weight_exp, code.bits,
                        code.lsb, code.max_err, code.max_err / code.lsb if code.lsb else 0.0,
                        code.floor_err)
