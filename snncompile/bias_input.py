"""Frames through the input layer's bias, as Intel's PilotNet examples drive netx networks: each
frame (batch, *input_shape) is the input neurons' bias_mant, held for `steps` steps.

netx reads a graded input layer as GradedInput -> LIF, the data entering the neuron's a_in. With
iDecay 4096 (du = 4095, PilotNet's input layer) the current forgets itself every step, so
u = a_in << 6 and v gains exactly what bias_mant << 6 (netx's bias_exp) would add: holding the
frame as a_in for `steps` steps gives the same spikes and v in every layer, and the same u in
every layer after the input one (whose u Lava keeps at 0 under a bias drive, where a_in shows
it); tests/test_cli_netx.py checks this against lava-dl's netx with bias_mant set in Lava.
Another iDecay would smear the frame over time, so it is refused.
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import InputError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph

INT16 = (-(2**15), 2**15 - 1)  # Lava stores bias_mant as int16


def frames_as_steps(graph: Graph, frames: np.ndarray, steps: int, where: str) -> np.ndarray:
    """(batch, steps, *input_shape) int32 graded input equal to holding `frames` as bias."""
    (name,) = graph.inputs
    if not isinstance(graph.nodes[name], hw.GradedInput):
        raise InputError(f"{where}: frames drive an input layer's bias, and this model's input "
                         "is spikes, not a graded (netx input-neuron) layer")
    (first,) = graph.successors(name)
    du = int(graph.nodes[first].du)
    if du != 4095:
        raise InputError(f"{where}: input layer {first!r} has iDecay {du + 1}; a frame held in "
                         "its bias equals a graded input only with iDecay 4096")
    shape = tuple(graph.shapes[name])
    if tuple(frames.shape[1:]) != shape or frames.ndim != len(shape) + 1:
        raise InputError(f"{where}: frames have shape {frames.shape}; expected (batch, "
                         f"{', '.join(map(str, shape))}), one frame per sample")
    if steps < 1:
        raise InputError(f"{where}: each frame must be held for at least 1 step, not {steps}")
    if frames.size and (frames.min() < INT16[0] or frames.max() > INT16[1]):
        raise InputError(f"{where}: frame values reach [{frames.min()}, {frames.max()}], past "
                         "bias_mant's int16 range")
    return np.repeat(frames.astype(np.int32)[:, None], steps, axis=1)
