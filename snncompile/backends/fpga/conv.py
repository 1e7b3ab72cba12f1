"""Conv on the fpga: a kernel-walking address generator instead of a dense weight matrix.

A Conv with N outputs and M inputs would need an N x M weight memory (4096 x 4096 words for the
NIR paper's CNN); the kernel alone is C_out * C_in/groups * kH * kW words. For one input spike at
(c, y, x) the outputs it reaches are (co, oy, ox) with ky = y + pad_y - oy * stride_y in [0, kH),
so ky runs over one stride phase, ky0 + jy * stride_y with jy < KY = ceil(kH / stride_y) (same in
x), and co over the Cog output channels of c's group. The event pass therefore walks a fixed
Cog x KY x KX grid (a data-independent length, so the cycle model stays a closed form); a small
per-axon ROM gives where the walk starts and which (jy, jx) land inside the output and the kernel,
and the target and weight addresses advance by constant strides (adders, no multipliers).

Dilation other than 1 is refused (a stride phase then holds a non-contiguous set of taps). The
accumulation wraps at 24 bits exactly as the emulator's Conv register (hw_ops.Conv).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from snncompile.backends.fpga.widths import clog2, signed_bits
from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.ir import hw_ops as hw

WHERE = "fpga back end"
CONV_BITS = 24  # Lava's Conv register wraps at 24 bits (hw_ops.Conv)


def weight_format(w: np.ndarray) -> tuple[int, bool, int]:
    """(shift k, signed, bits) of the narrowest weight memory word for integer weights w: every
    weight is a multiple of 2^k (Lava's num_weight_bits grid leaves 8 - num_weight_bits (+1 if
    mixed) zero LSBs), so the memory keeps w >> k and the datapath appends k zero bits; weights
    that are all >= 0 are stored unsigned. Same values, narrower memory."""
    w = np.asarray(w, np.int64).reshape(-1)
    nz = w[w != 0]
    k = int(min((int(v) & -int(v)).bit_length() - 1 for v in np.unique(np.abs(nz)))) \
        if nz.size else 0
    q = w >> k
    signed = bool(q.min(initial=0) < 0)
    lo, hi = int(q.min(initial=0)), int(q.max(initial=0))
    bits = 1 + max(hi.bit_length(), (-lo - 1).bit_length()) if signed else max(1, hi.bit_length())
    return k, signed, bits


@dataclasses.dataclass(frozen=True)
class ConvGroup:
    """One Conv into a core. `kernel` is padded to (C_out, C_in/groups, KY*sy, KX*sx) with zeros,
    so every walked weight address exists; `rom` (n_src, 6) holds per source axon
    (base_t, base_w, jy_lo, jy_hi, jx_lo, jx_hi): the walk's first target (mod 2^t_bits) and
    weight address, and the half-open ranges of jy, jx that are real synapses."""

    name: str
    index: int
    source: int
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    stride: tuple[int, int]
    kernel: np.ndarray
    rom: np.ndarray
    walk: tuple[int, int, int]  # (Cog, KY, KX)
    w_bits: int
    acc_bits: int
    w_shift: int = 0
    w_signed: bool = True
    kind: str = "conv"
    weight_exp: int = 0
    senders: tuple[tuple[int, int], ...] = ()  # (source number, wire offset) of every sender
    graded: bool = False  # reads an AnalogInput: each event adds weight x its int8 payload

    @property
    def feeds(self) -> tuple[tuple[int, int], ...]:
        return self.senders or ((self.source, 0),)

    @property
    def n_src(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def walk_len(self) -> int:
        return int(np.prod(self.walk))

    @property
    def t_bits(self) -> int:
        return clog2(int(np.prod(self.out_shape)))

    @property
    def w_addr_bits(self) -> int:
        return clog2(self.kernel.size)

    def deltas(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """(target, weight) address steps: next jx; next jy (jx back to 0); next output channel
        (jy, jx back to 0). Targets count down in jy, jx because oy = oy0 - jy."""
        _, ky_n, kx_n = self.walk
        sy, sx = self.stride
        _, oh, ow = self.out_shape
        cig, khp, kwp = self.kernel.shape[1:]
        return ((-1, sx),
                ((kx_n - 1) - ow, sy * kwp - (kx_n - 1) * sx),
                (oh * ow + (ky_n - 1) * ow + (kx_n - 1),
                 cig * khp * kwp - (ky_n - 1) * sy * kwp - (kx_n - 1) * sx))

    def memories(self, n: int) -> list[tuple[str, int, int]]:
        """(name, words, bits) of the memories this group adds to a core of n neurons."""
        rom_bits = self.t_bits + self.w_addr_bits + 2 * clog2(self.walk[1] + 1) \
            + 2 * clog2(self.walk[2] + 1)
        return [(f"wmem{self.index}", self.kernel.size, self.w_bits),
                (f"rom{self.index}", self.n_src, rom_bits),
                (f"acc{self.index}", n, self.acc_bits)]

    def synapses(self, axon: int) -> list[tuple[int, int]]:
        """(target, weight) pairs of one input spike, by walking exactly as the RTL does (the
        tests compare this with torch's conv2d)."""
        base_t, base_w, jy_lo, jy_hi, jx_lo, jx_hi = (int(v) for v in self.rom[axon])
        cog, ky_n, kx_n = self.walk
        (dt_x, dw_x), (dt_y, dw_y), (dt_m, dw_m) = self.deltas()
        flat, tmask = self.kernel.reshape(-1), (1 << self.t_bits) - 1
        t, w, out = base_t, base_w, []
        for _ in range(cog):
            for jy in range(ky_n):
                for jx in range(kx_n):
                    if jy_lo <= jy < jy_hi and jx_lo <= jx < jx_hi:
                        out.append((t & tmask, int(flat[w])))
                    if jx != kx_n - 1:
                        t, w = t + dt_x, w + dw_x
                    elif jy != ky_n - 1:
                        t, w = t + dt_y, w + dw_y
                    else:
                        t, w = t + dt_m, w + dw_m
        return out


def _axis(size: int, pad: int, stride: int, k: int, lo: int, hi: int,
          n_steps: int) -> np.ndarray:
    """Per input coordinate: (k0, o0, j_lo, j_hi) of the stride phase walk along one axis, where
    the walk's output o0 - j must land in [lo, hi) (the whole output, or a block's tile)."""
    rows = []
    for y in range(size):
        k0, o0 = (y + pad) % stride, (y + pad) // stride
        j_hi = min(n_steps, -(-(k - k0) // stride), o0 - lo + 1)
        j_lo = max(0, o0 - hi + 1)
        if j_lo >= j_hi:
            j_lo = j_hi = 0
        rows.append((k0, o0, j_lo, j_hi))
    return np.array(rows, np.int64).reshape(size, 4)


def _channel_walk(op: hw.Conv, name: str, cog: int, c_out: int,
                  channels: tuple[int, int]) -> tuple[int, np.ndarray]:
    """(channels walked per event, first output channel per group or -1): a block of output
    channels c0:c1 meets each group of cog channels in the same number of channels, or none."""
    c0, c1 = channels
    firsts, counts = [], set()
    for g in range(c_out // cog):
        a, b = max(g * cog, c0), min((g + 1) * cog, c1)
        firsts.append(a if b > a else -1)
        if b > a:
            counts.add(b - a)
    if len(counts) != 1:
        raise UnsupportedOp(op, WHERE, f"Conv {name!r} feeds a block of output channels {c0}:{c1} "
                            f"that meets its groups of {cog} channels unevenly; the fpga kernel "
                            "walker needs the same channel count from every group it reaches")
    return counts.pop(), np.array(firsts, np.int64)


def conv_group(name: str, op: hw.Conv, index: int, source: int,
               in_shape: tuple[int, ...], out_shape: tuple[int, ...], *,
               channels: tuple[int, int] | None = None,
               tile: tuple[int, int, int, int] | None = None,
               wire: np.ndarray | None = None, payload_max: int = 1, graded: bool = False,
               senders: tuple[tuple[int, int], ...] = ()) -> ConvGroup:
    """Plan one Conv into one core, or raise a one-sentence error naming it. The core holds
    output channels `channels` x rows:cols `tile` = (r0, r1, x0, x1) (default: all of them);
    axon a of the ROM is source neuron wire[a] (flat C-order index; default the identity)."""
    if tuple(op.dilation) != (1, 1):
        raise UnsupportedOp(op, WHERE, f"Conv {name!r} has dilation {tuple(op.dilation)}; the "
                            "fpga kernel walker supports dilation 1")
    if len(in_shape) != 3:
        raise UnsupportedOp(op, WHERE, f"Conv {name!r} reads a source of shape {in_shape}; it "
                            "needs (C, H, W)")
    w = np.asarray(op.weight, np.int64)
    c_out, cig, kh, kw = w.shape
    c, h, wd = (int(v) for v in in_shape)
    co, oh, ow = (int(v) for v in out_shape)
    groups = int(op.groups)
    sy, sx = (int(v) for v in op.stride)
    py, px = (int(v) for v in op.padding)
    if c != cig * groups or co != c_out or c_out % groups:
        raise SnnCompileError(f"{WHERE}: Conv {name!r} has weight {w.shape} and groups {groups} "
                              f"for input {in_shape} and output {out_shape}")
    c0, c1 = channels or (0, co)
    r0, r1, x0, x1 = tile or (0, oh, 0, ow)
    th, tw = r1 - r0, x1 - x0
    ky_n, kx_n = math.ceil(kh / sy), math.ceil(kw / sx)
    cog = c_out // groups
    walk_c, first = _channel_walk(op, name, cog, c_out, (c0, c1))
    wb = w[c0:c1]
    kernel = np.zeros((c1 - c0, cig, ky_n * sy, kx_n * sx), np.int64)
    kernel[:, :, :kh, :kw] = wb
    pos = np.clip(wb, 0, None).reshape(c1 - c0, -1).sum(axis=1)
    neg = np.clip(wb, None, 0).reshape(c1 - c0, -1).sum(axis=1)
    acc_bits = min(CONV_BITS, signed_bits(int(neg.min(initial=0)) * payload_max,
                                          int(pos.max(initial=0)) * payload_max))
    k, signed, w_bits = weight_format(wb)
    if w_bits + k + (not signed) > acc_bits:  # only when the 24-bit wrap caps acc_bits
        k, signed, w_bits = 0, True, acc_bits  # store each weight mod 2^24: the sum wraps alike
    ys = _axis(h, py, sy, kh, r0, r1, ky_n)
    xs = _axis(wd, px, sx, kw, x0, x1, kx_n)
    ch = np.arange(c)
    f0, ci = first[ch // cig], ch % cig
    cc, yy, xx = (a.reshape(-1) for a in np.meshgrid(ch, np.arange(h), np.arange(wd),
                                                     indexing="ij"))
    reached = f0[cc] >= 0  # input channels whose group has output channels in this block
    base_t = (f0[cc] - c0) * th * tw + (ys[yy, 1] - r0) * tw + (xs[xx, 1] - x0)
    khp, kwp = ky_n * sy, kx_n * sx
    base_w = ((f0[cc] - c0) * cig + ci[cc]) * khp * kwp + ys[yy, 0] * kwp + xs[xx, 0]
    t_bits = clog2((c1 - c0) * th * tw)
    zero = np.zeros_like(base_t)
    rom = np.stack([np.where(reached, base_t, 0) & ((1 << t_bits) - 1),
                    np.where(reached, base_w, 0),
                    np.where(reached, ys[yy, 2], zero), np.where(reached, ys[yy, 3], zero),
                    np.where(reached, xs[xx, 2], zero), np.where(reached, xs[xx, 3], zero)],
                   axis=1)
    if wire is not None:
        rom = rom[np.asarray(wire, np.int64)]
    return ConvGroup(name=name, index=index, source=source, in_shape=(c, h, wd),
                     out_shape=(c1 - c0, th, tw), stride=(sy, sx), kernel=kernel,
                     rom=rom.astype(np.int64), walk=(walk_c, ky_n, kx_n), w_bits=w_bits,
                     acc_bits=acc_bits, w_shift=k, w_signed=signed, senders=senders,
                     graded=graded)
