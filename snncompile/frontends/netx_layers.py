"""netx layer types that lava-dl netx 0.6.0 itself does not build: `average`, `pool`, and the
dense readout without a neuron group, read as hw ops that Lava runs unchanged.

- A dense layer without `neuron` gets netx's own default neuron (hdf5.py create_dense: CUBA,
  iDecay 0, vDecay 4096, vThMant 1 << 17): du = -1 keeps u (a non-leaky sum of the input),
  dv = 4096 makes v = u + bias each step, and a threshold of 2^17 << 6 = 2^23 lies above the
  clipped v (at most 2^23 - 1), so it never spikes: the readout is its potential (`run --record v`).
- `average` (slayer's Average block: the mean of each of `num_outputs` consecutive groups of the
  previous layer's spikes, per step) is a Dense of ones per group into the same kind of readout
  without memory (du = 4095: u = the step's input << 6): v = 64 * the group's spike count, so the
  average is v / (64 * group size), exactly (meta `netx_average`).
- `pool` (slayer's Pool block: one weight on a kernel x kernel window per channel, then a neuron
  group) is a depthwise Conv (groups = channels) with that kernel, read like a conv layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.limits import require

# the netx layer types refused, with the reason the sentence (naming the layer) gives
REFUSED = {
    "convT": "a transposed conv (slayer's ConvT) is built by neither lava-dl netx 0.6.0 nor Lava "
             "(no ConvT process); its only exact form here, a Dense over the scattered windows, "
             "gives a flat neuron group that a following conv cannot read",
    "unpool": "an unpool (slayer's Unpool) is built by neither lava-dl netx 0.6.0 nor Lava (no "
              "upsampling process); as a Dense its neuron group would be flat, unreadable by the "
              "conv that follows it in slayer's decoders",
    "dense_comp": "a complex dense layer feeds resonate-and-fire (RF) neurons with real and "
                  "imaginary weights; snncompile reads CUBA/LOIHI LIF and SDNN neurons only"}
# netx's neuron for a layer without a neuron group (lava-dl 0.6.0 hdf5.py, `1 << 18 - 1`)
DEFAULT_NEURON = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 17}
# an average layer's readout: no memory in u or v, never spikes (module docstring)
AVERAGE_NEURON = {"type": "CUBA", "iDecay": 4096, "vDecay": 4096, "vThMant": 1 << 17}


def average(reader: Any, i: int, layer: Any, kind: str) -> None:
    """slayer's Average: group sums of the previous layer's spikes into a potential readout."""
    if reader.prev is None or reader.nodes[reader.prev].kind != "neuron":
        raise reader.fail(i, "average layer does not follow a neuron layer")
    n_in = int(np.prod(reader.prev_shape))
    n_out = int(np.prod(np.asarray(layer["shape"][()]))) if "shape" in layer else 0
    if n_out < 1 or n_in % n_out:
        raise reader.fail(i, f"average layer of {n_out} outputs cannot split {n_in} inputs into "
                             "equal groups")
    require("weights", n_in * n_out, f"{reader.path}: /layer/{i} (average of {n_in} inputs into "
            f"{n_out} outputs)")  # before its matrix of ones is built
    group = n_in // n_out
    if group << 6 > 2**23 - 1:
        raise reader.fail(i, f"average groups of {group} neurons overflow the readout's 24-bit "
                             "u (64 * group size must stay below 2^23)")
    ones = (np.arange(n_in)[None, :] // group == np.arange(n_out)[:, None]).astype(np.int64)
    syn = reader.add(f"layer{i}_syn", hw.Dense(ones, 0, 8), reader.prev)
    reader.neuron(i, {"neuron": AVERAGE_NEURON}, f"layer{i}", (n_out,), None, syn)
    reader.meta["netx_average"] = {"layer": f"layer{i}", "group": group,
                                   "value": "v / (64 * group)"}


def pool(reader: Any, i: int, layer: Any, kind: str) -> None:
    """slayer's Pool: a depthwise conv of one weight per window, then the layer's neuron."""
    if reader.prev is None or len(reader.prev_shape) != 3:
        raise reader.fail(i, f"pool layer reads an input of shape {reader.prev_shape}, "
                             "not (C, H, W)")
    if "neuron" not in layer:
        raise reader.fail(i, "pool layer has no neuron group (slayer's Pool block has one)")
    w = np.asarray(layer["weight"][()]).astype(np.int64)
    kernel = reader.pair(i, layer, "kernelSize")
    require("weights", reader.prev_shape[0] * abs(kernel[0] * kernel[1]),
            f"{reader.path}: /layer/{i} (pool kernel {kernel})")  # before it is built
    if w.size == 1:
        w = np.full(kernel, int(w.ravel()[0]), np.int64)
    w = w.reshape(w.shape[-2:]) if w.ndim >= 2 and w.size == kernel[0] * kernel[1] else None
    if w is None or tuple(w.shape) != kernel:
        raise reader.fail(i, f"pool weight does not fit its kernel {kernel}")
    channels = reader.prev_shape[0]
    stride = reader.pair(i, layer, "stride") if "stride" in layer else kernel
    padding = reader.pair(i, layer, "padding") if "padding" in layer else (0, 0)
    dilation = reader.pair(i, layer, "dilation") if "dilation" in layer else (1, 1)
    op = hw.Conv(np.broadcast_to(w, (channels, 1, *kernel)).copy(), stride, padding, dilation,
                 groups=channels)
    reader.conv_op(i, layer, op)
