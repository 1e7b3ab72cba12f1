"""Where each trainable weight lands in the compiled synapses, for QAT (`snncompile.nn.qat`).

`lower` composes every chain of nn synapse ops between two neuron layers into one matrix (a conv
expanded to a flat Dense, an average pool before a Linear, a BatchNorm folded into the conv
before it). QAT must put the weights the compiler will round on the compiler's grid, so it needs
that composition: for each entry of a grouped synapse, which weight element of which module it
copies and with what constant factor. It finds out by compiling the graph twice with tag weights
(element k holds k + 1, then (k + 1)^2: an entry fed by one element e with factor c reads c (e+1)
and c (e+1)^2, so their ratio names e), then checks that the real weights compose exactly so.
A folded BatchNorm's per-channel scale is not part of the factor: QAT reads it live from the norm
module, so training its affine stays exact.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir import nn_ops

WEIGHTED = (nn_ops.Linear, nn_ops.Affine, nn_ops.Conv2d)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Per grouped-synapse entry (flat, C order): the weight element it copies (-1: none) and the
    constant factor (entry = factor * folded weight element); `rows` entries per row."""

    element: np.ndarray
    factor: np.ndarray
    rows: int


def tagged(graph, paths: list[str], power: int):
    """`graph` with each weighted node's weight replaced by its tags (element k: (k + 1)^power)
    and its bias zeroed."""
    nodes = dict(graph.nodes)
    for path in paths:
        op = nodes[path]
        tags = (np.arange(op.weight.size, dtype=np.float64) + 1) ** power
        fields = {"weight": tags.reshape(op.weight.shape)}
        if getattr(op, "bias", None) is not None:
            fields["bias"] = np.zeros_like(op.bias)
        nodes[path] = op.replace(**fields)
    return graph.replace(nodes=nodes)


def placements(once: dict[str, np.ndarray], twice: dict[str, np.ndarray], real: dict,
               folded: dict[str, np.ndarray], owner: dict[str, str]) -> dict[str, Placement]:
    """{synapse: Placement} from its composed tag weights `once` ((k+1)) and `twice` ((k+1)^2),
    checked against the real composed weights `real` and the folded module weights `folded`
    (by the module path `owner[synapse]`); refuses an entry that mixes several elements."""
    out = {}
    for name, w1 in once.items():
        w1, w2 = np.asarray(w1, np.float64).ravel(), np.asarray(twice[name], np.float64).ravel()
        used = w1 != 0
        element = np.full(w1.shape, -1, np.int64)
        factor = np.zeros(w1.shape)
        ratio = np.where(used, w2 / np.where(used, w1, 1.0), 0.0)
        element[used] = np.rint(ratio[used]).astype(np.int64) - 1
        factor[used] = w1[used] / (element[used] + 1)
        source = folded[owner[name]].ravel()
        rebuilt = np.where(used, factor * source[np.clip(element, 0, None)], 0.0)
        wanted = np.asarray(real[name], np.float64).ravel()
        if (np.any(element[used] >= source.size) or np.any(element[used] < 0)
                or not np.allclose(rebuilt, wanted, rtol=1e-6, atol=1e-9 * np.abs(wanted).max())):
            raise SnnCompileError(f"qat: synapse {name!r} is not supported: its composed weights "
                                  f"mix several weights of module {owner[name]!r} in one entry "
                                  "(an overlapping pool, or a chain QAT cannot mirror weight by "
                                  "weight)")
        out[name] = Placement(element, factor, int(np.shape(real[name])[0]))
    return out


def element_units(path: str, size: int, entries: list[tuple[Placement, np.ndarray]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(unit, factor) per weight element of module `path`: the hw grid step of the entries it
    feeds (composed units: factor * folded weight) and its factor, the same for every entry it
    feeds (`entries`: each synapse's Placement and its per-row unit), else a refusal. Elements
    that feed nothing get the median unit and factor 1."""
    lo, hi = np.full(size, np.inf), np.full(size, -np.inf)
    f_lo, f_hi = np.full(size, np.inf), np.full(size, -np.inf)
    for place, row_unit in entries:
        per_entry = np.repeat(np.asarray(row_unit, np.float64), place.element.size // place.rows)
        used = place.element >= 0
        e, u, f = place.element[used], per_entry[used], place.factor[used]
        np.minimum.at(lo, e, u)
        np.maximum.at(hi, e, u)
        np.minimum.at(f_lo, e, f)
        np.maximum.at(f_hi, e, f)
    seen = np.isfinite(lo)
    if np.any(hi[seen] > lo[seen] * (1 + 1e-9)) or np.any(f_hi[seen] > f_lo[seen] * (1 + 1e-9)):
        raise SnnCompileError(f"qat: module {path!r} is not supported: one of its weights "
                              "reaches neurons whose hardware grids differ, so no single "
                              "rounding mirrors it")
    if not seen.any():
        return np.ones(size), np.ones(size)
    unit = np.where(seen, lo, np.median(lo[seen]))
    return unit, np.where(seen, f_lo, 1.0)
