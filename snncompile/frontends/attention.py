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
blocks.

SpikingJelly's `layer.SpikeDrivenSelfAttention` (the spike-driven transformer's SDSA) is masks and
sums: xs = shortcut_LIF(x); q, k, v = LIF(BN(Conv2d_1x1(xs))); kv[c] = attn_LIF(sum over tokens
of k * v); out = proj_BN(proj_Conv(q * kv[c])) + x. Both products are 2-way AND gates (threshold
populations), the token sum a Linear into attn_LIF, kv's broadcast over the tokens a Linear plus
Unflatten; `+ x` is a sum into whatever reads the module (MS-ResNet style). Other attention
modules are refused by name.
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


def map_sdsa(b: Any, m: nn.Module, path: str, walk: Any) -> None:
    """Append SpikingJelly's SpikeDrivenSelfAttention `m` to builder `b` (module docstring)."""
    if len(b.shape) != 3 or b.shape[0] != m.dim:
        raise b.fail(m, path, f"its input has shape {b.shape}; it reads ({m.dim}, H, W)")
    identity, shape = b.last, b.shape
    walk(b, m.shortcut_lif, f"{path}.shortcut_lif")
    xs, qkv = b.last, {}
    for part in "qkv":
        b.last, b.shape = xs, shape
        for layer in ("conv", "bn", "lif"):
            walk(b, getattr(m, f"{part}_{layer}"), f"{path}.{part}_{layer}")
        qkv[part] = b.last
    torch_blocks.gate(b, f"{path}.k_and_v", qkv["k"], qkv["v"], False, path)
    c, tokens = shape[0], int(np.prod(shape[1:]))
    per_channel = np.kron(np.eye(c), np.ones((1, tokens)))  # (C, C * tokens): sum over tokens
    b.add(f"{path}.token_sum", nn_ops.Linear(weight=per_channel))
    walk(b, m.attn_lif, f"{path}.attn_lif")
    if not torch_blocks.is_spiking(b, b.last):
        raise b.fail(m, path, "its attn_lif is not a spiking layer")
    b.add(f"{path}.kv_broadcast", nn_ops.Linear(weight=per_channel.T.copy()))
    b.add(f"{path}.kv_tokens", nn_ops.Unflatten(shape=shape))  # kv[c] at every token: spikes
    b.last, b.shape = qkv["q"], shape
    b.add(f"{path}.q_and_kv.q", nn_ops.Scale(scale=np.ones(shape)))
    b.last = (f"{path}.q_and_kv.q", f"{path}.kv_tokens")
    torch_blocks.threshold_population(b, f"{path}.q_and_kv", 1.5)  # q AND kv
    walk(b, m.proj_conv, f"{path}.proj_conv")
    walk(b, m.proj_bn, f"{path}.proj_bn")
    b.last = (b.last, *(identity if isinstance(identity, tuple) else (identity,)))


MAPPERS = {"SpikingSelfAttention": map_ssa, "SpikeDrivenSelfAttention": map_sdsa}
