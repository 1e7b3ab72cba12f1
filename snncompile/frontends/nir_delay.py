"""NIR's axonal `Delay` node, read by folding it into the Linear/Affine it feeds, and written back.

NIR's `Delay` is y(t) = x(t - delay), one delay in seconds per element, on the wire between two
nodes. snncompile has no stateful wire op; a Delay before a Linear or Affine is exactly a
`DelayLinear` whose column j waits delay[j] / dt steps (every synapse reading input j gets input
j's delay). The delay must be a whole number of steps (within 1e-6 of one) or the node is refused;
so is a Delay that feeds anything but Linear/Affine nodes, or one whose Linear also sums other,
undelayed inputs. `to_nir` writes a `DelayLinear` back as Delay + Linear/Affine when each column
has one delay; per-synapse delays have no NIR form and are refused by name.
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np

from snncompile.errors import ModelLoadError, Named, UnsupportedOp
from snncompile.ir import nn_ops

TOLERANCE = 1e-6  # steps: how far delay / dt may sit from a whole number
FOLDED = {"DelayLinear": "Delay"}  # nn ops the NIR reader makes by folding, and the NIR type


def steps(delay: Any, dt: float, where: str, name: str) -> np.ndarray:
    """delay (seconds) / dt as whole steps, or ModelLoadError naming the node."""
    raw = np.asarray(delay, dtype=np.float64) / dt
    if not np.isfinite(raw).all() or (raw.size and np.abs(raw).max() > 2**31):
        raise ModelLoadError(f"{where}: node {name!r} (Delay) has a delay that is not a finite "
                             f"number of steps of dt = {dt:g} s below 2^31")
    whole = np.round(raw)
    bad = np.abs(raw - whole) > TOLERANCE * np.maximum(1.0, np.abs(raw))
    if bad.any() or (raw.size and raw.min() < -TOLERANCE):
        worst = float(raw[bad][0] if bad.any() else raw.min())
        raise ModelLoadError(f"{where}: node {name!r} (Delay) has a delay of {worst:.6g} steps of "
                             f"dt = {dt:g} s; NIR delays must be whole, non-negative steps (pass a "
                             "dt that divides them)")
    return np.maximum(whole, 0).astype(np.int64)


def fold(raw: dict[str, Any], edges: list[tuple[str, str]], dt: float, where: str
         ) -> tuple[list[tuple[str, str]], dict[str, nn_ops.DelayLinear]]:
    """Remove every nir.Delay from `raw` (in place) and return the new edges and, per Linear/Affine
    it fed, the DelayLinear that replaces that node."""
    folded: dict[str, nn_ops.DelayLinear] = {}
    for name in [n for n, node in raw.items() if isinstance(node, nir.Delay)]:
        d = steps(raw[name].delay, dt, where, name)
        ins = [a for a, b in edges if b == name]
        outs = [b for a, b in edges if a == name]
        for b in outs:
            node = raw.get(b)
            if not isinstance(node, (nir.Linear, nir.Affine)) or b in folded:
                what = "another Delay" if b in folded else type(node).__name__
                raise ModelLoadError(f"{where}: node {name!r} (Delay) feeds {b!r} ({what}); "
                                     "snncompile reads a Delay only right before Linear or "
                                     "Affine nodes, whose synapses then carry the delay")
            others = [a for a, c in edges if c == b and a != name]
            if others:
                raise ModelLoadError(f"{where}: node {name!r} (Delay) feeds {b!r}, which also "
                                     f"sums the undelayed input {others[0]!r}; a synapse holds "
                                     "one delay")
            w = np.asarray(node.weight, dtype=np.float64)
            if d.ndim != 1 or d.shape[0] != w.shape[1]:
                raise ModelLoadError(f"{where}: node {name!r} (Delay) has shape {d.shape}, but "
                                     f"{b!r} takes {w.shape[1]} inputs")
            bias = np.asarray(node.bias) if isinstance(node, nir.Affine) else None
            folded[b] = nn_ops.DelayLinear(weight=w, delay=np.broadcast_to(d, w.shape),
                                           bias=bias)
        new: list[tuple[str, str]] = []
        for a, b in edges:  # each (delay, b) becomes (pred, b) in its place: to_nir's order back
            if a == name:
                new += [(p, b) for p in ins]
            elif b != name:
                new.append((a, b))
        edges = new
        del raw[name]
    return list(dict.fromkeys(edges)), folded


def write(name: str, op: nn_ops.DelayLinear, dt: float, taken: set[str]
          ) -> tuple[str, Any, Any]:
    """(delay node name, nir.Delay, nir.Linear/Affine) for a DelayLinear with one delay per
    column; UnsupportedOp for per-synapse delays."""
    d = np.asarray(op.delay)
    if d.size and np.any(d != d[:1]):
        j = int(np.nonzero(np.any(d != d[:1], axis=0))[0][0])
        raise UnsupportedOp(Named(f"node {name!r} (DelayLinear)"), "NIR writer",
                            f"input {j} reaches its outputs with different delays "
                            f"{sorted(set(d[:, j].tolist()))}; NIR's Delay delays whole inputs, "
                            "so per-synapse delays have no NIR form")
    delay_name, i = f"{name}.delay", 2
    while delay_name in taken:
        delay_name, i = f"{name}.delay{i}", i + 1
    column = d[0] if d.shape[0] else np.zeros(d.shape[1], np.int64)
    delay = nir.Delay(delay=column.astype(np.float64) * dt)
    w = np.asarray(op.weight)
    if op.bias is None:
        return delay_name, delay, nir.Linear(weight=w)
    syn = nir.Affine(weight=w, bias=np.asarray(op.bias))
    return delay_name, delay, syn


def reroute(edges: list[tuple[str, str]], name: str, delay_name: str) -> list[tuple[str, str]]:
    """Edges with every edge into `name` sent into `delay_name`, then delay_name -> name after
    the first of them (fold's inverse)."""
    out: list[tuple[str, str]] = []
    for a, b in edges:
        if b == name:
            out.append((a, delay_name))
            if (delay_name, name) not in out:
                out.append((delay_name, name))
        else:
            out.append((a, b))
    return out
