"""netx `concat` layers (lava-dl netx README: `concat : {shape, type, layers}`, "skip/recurrent
connections are preceded by a concatenate layer that connects to the previous layer plus a list of
non-sequential layers identified by their id"). lava-dl netx 0.6.0 raises NotImplementedError
for them, and Lava 0.10's ConcatPort has no transform, so there is no Lava wiring to copy: the
concatenation becomes fan-in. The dense or conv layer after the concat is encoded as netx encodes
one layer (dense: `optimize_weight_bits` over the whole matrix, one exponent, bit count and sign
mode), then its weights are cut by input columns (conv: input channels) into one synapse per
listed layer, all into the same neuron group. Cutting is exact: the encoded weights are the file's
times 2^-exponent, so every part's sum is a multiple of 2^-exponent and the floor distributes.

Order: `[previous layer, *layers]`; a `layers` list that names the previous layer itself is the
whole order. 1-D layers concatenate as vectors, (C, H, W) layers along C (equal H and W).

Timing: a concat adds no step, each layer one (its synapse), and a skip is not delayed to meet the
main path: slayer trains with every block's output shifted one step (`delay_shift`), so a layer
listed in a concat arrives as many steps early as the main path has extra layers, on Loihi as in
training. The graph's nn time still follows the longest (main) path: each shorter part's lead is
recorded in `meta["pipeline_delay"]`, which timing counts and nothing delays.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.sim.lava_params import resolved_sign_mode

# what may read a concat: the layers whose weights are cut over its inputs (flatten passes it on)
READERS = ("dense", "dense_rec", "conv", "flatten")


def concat(reader: Any, i: int, layer: Any, kind: str) -> None:
    """Record the concatenation the next dense or conv layer reads (`reader.concat`)."""
    if reader.concat:
        raise reader.fail(i, "concat follows another concat (list every layer in one concat)")
    if reader.flatten:
        raise reader.fail(i, "concat follows a flatten (flatten after the concat instead)")
    if reader.prev is None:
        raise reader.fail(i, "concat comes before any input layer")
    if "layers" not in layer:
        raise reader.fail(i, "concat layer has no 'layers' dataset (the ids it concatenates)")
    ids = [int(v) for v in np.asarray(layer["layers"][()]).ravel()]
    previous = max(reader.outputs)
    for j in ids:
        if j >= i:
            raise reader.fail(i, f"concat lists layer {j}, which is not before it (a recurrent "
                                 "concat is a loop between layers of different depth, refused)")
        if j not in reader.outputs:
            raise reader.fail(i, f"concat lists layer {j}, which is not an input or neuron layer "
                                 "of this file")
    order = ids if previous in ids else [previous, *ids]
    shapes = [reader.outputs[j][1] for j in order]
    shape = _joined(reader, i, order, shapes)
    if "shape" in layer:
        declared = tuple(int(d) for d in np.asarray(layer["shape"][()]).ravel())
        fits = int(np.prod(declared)) == int(np.prod(shape))
        if not fits or (len(shape) > 1 and declared not in (shape, shape[::-1])):
            raise reader.fail(i, f"concat of layers {order} has shape {shape}, the file says "
                                 f"{declared}")
    reader.concat = [(j, *reader.outputs[j]) for j in order]
    reader.prev, reader.prev_shape = reader.outputs[order[0]][0], shape


def _joined(reader: Any, i: int, order: list[int], shapes: list[tuple[int, ...]]
            ) -> tuple[int, ...]:
    if all(len(s) == 1 for s in shapes):
        return (sum(s[0] for s in shapes),)
    if all(len(s) == 3 for s in shapes) and len({s[1:] for s in shapes}) == 1:
        return (sum(s[0] for s in shapes), *shapes[0][1:])
    listed = ", ".join(f"layer {j} {s}" for j, s in zip(order, shapes))
    raise reader.fail(i, f"concat cannot join {listed}: vectors join end to end, (C, H, W) "
                         "layers along C with equal H and W")


def split(reader: Any, i: int, name: str, op: hw.HWOp) -> list[str]:
    """Add `op` (the layer's synapse over the whole concatenation) as one synapse per concat
    input, named `name`, `name`1, ...; return their names."""
    parts = reader.concat
    reader.concat = []
    sizes = [int(np.prod(shape)) if isinstance(op, hw.Dense) else shape[0]
             for _, _, shape, _ in parts]
    cuts = np.cumsum([0, *sizes])
    if isinstance(op, hw.Conv) and op.groups != 1:
        raise reader.fail(i, f"a grouped conv (groups = {op.groups}) reads a concat; its "
                             "channel groups would cross the concatenated layers")
    deepest = max(depth for *_, depth in parts)
    names = []
    for p, ((_, source, _, depth), lo, hi) in enumerate(zip(parts, cuts, cuts[1:])):
        syn = name if p == 0 else f"{name}{p}"
        if isinstance(op, hw.Conv):
            part: hw.HWOp = dataclasses.replace(op, weight=op.weight[:, lo:hi].copy())
        else:  # Dense or DelayDense: one sign mode for all parts, as netx encodes one matrix
            extra = {"delays": op.delays[:, lo:hi].copy()} if isinstance(op, hw.DelayDense) else {}
            part = dataclasses.replace(op, weights=op.weights[:, lo:hi].copy(),
                                       sign_mode=resolved_sign_mode(op), **extra)
        names.append(reader.add(syn, part, source))
        if deepest > depth:  # a skip: it arrives this many steps early (module docstring)
            reader.meta.setdefault("pipeline_delay", {})[syn] = deepest - depth
    return names
