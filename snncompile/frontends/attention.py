"""Spiking self-attention (Spikformer's SSA) from SpikingJelly's `layer.SpikingSelfAttention`.

SpikingJelly computes, per step and head h (channels c, c' of the head, tokens l, l'):

    qkv = LIF(BN(Conv1d_k1(x)))                    q, k, v = its three channel thirds
    y[c, l] = scale * sum_{c', l'} v[c, l'] * k[c', l'] * q[c', l]     ((v k^T) q, no softmax)
    out = proj_LIF(BN(Conv1d_k1(attn_LIF(y))))

On spikes every product is an AND of three spikes, so y is exact as a count of 3-way gates:
one threshold population (torch_blocks.threshold_population: v = x each step, fires above 2.5)
with a gate per (h, c, c', l', l), each fed weight 1 from its v, k and q spikes by one Linear,
and one Linear summing the gates into y with weight `scale`, then Unflatten to (C, L). The
reference is then SpikingJelly's forward; on hardware the gates are one more layer (one step
of latency, aligned like any layer) of C * (C / heads) * L^2 neurons, so this suits small
blocks. The spike-driven transformer's SDSA and other attention modules are refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from snncompile.frontends import torch_blocks
from snncompile.ir import nn_ops


def _gate_tables(c: int, heads: int, length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(select (G, 3 C L), sum (C L, G)): which qkv spikes feed each gate, where gates add."""
    cph = c // heads
    h, ci, cj, lj, li = np.meshgrid(np.arange(heads), np.arange(cph), np.arange(cph),
                                    np.arange(length), np.arange(length), indexing="ij")
    h, ci, cj, lj, li = (a.ravel() for a in (h, ci, cj, lj, li))
    gates = np.arange(len(h))
    select = np.zeros((len(h), 3 * c * length))
    for third, channel, position in ((2, ci, lj), (1, cj, lj), (0, cj, li)):  # v, k, q
        select[gates, (third * c + h * cph + channel) * length + position] = 1.0
    total = np.zeros((c * length, len(h)))
    total[(h * cph + ci) * length + li, gates] = scale
    return select, total


def map_ssa(b: Any, m: nn.Module, path: str, walk: Any) -> None:
    """Append SpikingJelly's SpikingSelfAttention `m` to builder `b` (module docstring)."""
    if len(b.shape) != 2 or b.shape[0] != m.dim:
        raise b.fail(m, path, f"its input has shape {b.shape}; it reads ({m.dim}, L) tokens")
    c, length = b.shape
    walk(b, m.qkv_conv_bn, f"{path}.qkv_conv_bn")
    walk(b, m.qkv_lif, f"{path}.qkv_lif")
    if not torch_blocks.is_spiking(b, b.last):
        raise b.fail(m, path, "its q, k, v are not spikes, so (v k^T) q is no AND of spikes")
    select, total = _gate_tables(c, int(m.num_heads), length, float(m.scale))
    b.add(f"{path}.qkv_gates", nn_ops.Linear(weight=select))
    torch_blocks.threshold_population(b, f"{path}.and3", 2.5)
    b.add(f"{path}.attention", nn_ops.Linear(weight=total))
    b.add(f"{path}.tokens", nn_ops.Unflatten(shape=(c, length)))
    walk(b, m.attn_lif, f"{path}.attn_lif")
    walk(b, m.proj_conv_bn, f"{path}.proj_conv_bn")
    walk(b, m.proj_lif, f"{path}.proj_lif")
