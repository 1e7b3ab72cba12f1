"""Pass `lower`: fold every chain of nn synapse ops between spiking layers into one hw synapse.

For each (source, target neuron) pair the synapse ops on the paths between them form an affine
map; its linear part becomes one Dense matrix (an identity pushed through the chain, C order), or
one Conv when the chain is a Conv2d, optionally after a sum/avg pool with stride == kernel that is
fused into the kernel exactly. A chain holding a DelayLinear gives a Dense plus one integer delay
per synapse (snncompile.passes.delays). A chain that is one SparseLinear (a model's sparse
weight; Flattens before it allowed) keeps its CSR arrays as a GroupedSparse, never made dense; a
sparse weight in any other chain is refused by node. The constant part (the biases) goes to the
target neuron. hw time adds one step per synapse, so every target's feed-forward inputs must
come from one depth and recurrent pairs must join neurons of equal depth (then nn and hw both
deliver them a step later). Graph -> Graph: each synapse group becomes a GroupedDense,
GroupedSparse or GroupedConv node named after the last nn op of its chain, each neuron a Layer
with its biases and depth (snncompile.ir.lowered_ops).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import lowered_ops as lo
from snncompile.ir import nn_ops as nn
from snncompile.ir.conv_geometry import pair
from snncompile.ir.graph import Graph
from snncompile.passes.chain import apply, has_rule
from snncompile.passes.common import unsupported, unsupported_edge
from snncompile.passes.delays import delay_nodes, delayed_dense, refuse_delayed_bias


@dataclasses.dataclass(frozen=True)
class Lower:
    """Group synapse chains; `fuse_pooling` folds pool-then-conv into one Conv; `chunk` bounds the
    identity block pushed through a chain at once (memory); `flat` names layers to keep flat."""

    fuse_pooling: bool = True
    chunk: int = 1024
    flat: frozenset[str] = frozenset()  # layers kept flat (a bias-clock Dense must reach them)
    name = "lower"

    def __call__(self, graph: Graph) -> Graph:
        for n, op in graph.nodes.items():
            if not (has_rule(type(op)) or op.kind == "neuron"
                    or isinstance(op, (nn.Input, nn.Output))):
                raise unsupported(self.name, n, op, "no lowering rule for this op")
        if len(graph.inputs) != 1:
            extra = graph.inputs[-1]
            raise unsupported(self.name, extra, graph.nodes[extra], "only one input is supported")
        return _Lowering(self, graph).run()


class _Lowering:
    def __init__(self, opts: Lower, graph: Graph):
        self.o, self.g = opts, graph
        self.shapes, self.rec = graph.shapes, graph.recurrent_edges
        self.order = {n: i for i, n in enumerate(graph.schedule)}
        self.prepared: dict = {}  # each synapse op's constants, made once (chain.apply)

    def is_syn(self, n: str) -> bool:
        return self.g.nodes[n].kind == "synapse"

    def upstream(self, n: str) -> tuple[list[str], list[str]]:
        """Synapse nodes with a synapse-only path into n (schedule order), and their sources."""
        seen, sources, stack = set(), [], list(self.g.predecessors(n))
        while stack:
            p = stack.pop()
            if self.is_syn(p):
                if p not in seen:
                    seen.add(p)
                    stack.extend(self.g.predecessors(p))
            elif p not in sources:
                sources.append(p)
        return sorted(seen, key=self.order.__getitem__), sorted(sources, key=self.order.__getitem__)

    def evaluate(self, syns: list[str], n: str, feeds: dict[str, np.ndarray], batch: int,
                 bias: bool, prev: dict[str, np.ndarray] | None = None,
                 ops: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Values of `syns` and n's summed input; sources not in feeds are zero. With `prev`,
        recurrent edges carry prev's values (zeros at step 1) instead of the current ones.
        `ops` replaces some nodes' ops (snncompile.passes.delays splits a delay op this way)."""
        vals: dict[str, np.ndarray] = {}
        for node in syns + [n]:
            shape = self.shapes[node]
            acc = np.zeros((batch, *self.shapes[self.g.predecessors(node)[0]]))
            for p in self.g.predecessors(node):
                if p not in feeds and p not in vals:
                    continue
                if prev is not None and (p, node) in self.rec:
                    acc = acc + prev.get(p, 0.0)
                else:
                    acc = acc + (vals[p] if p in vals else feeds[p])
            swapped = node in (ops or {})  # a one-off op: not kept in self.prepared
            op = (ops or {})[node] if swapped else self.g.nodes[node]
            vals[node] = acc if node == n else apply(
                op, acc, bias, None if swapped else self.prepared).reshape(batch, *shape)
        return vals

    def delays(self, syns: list[str], n: str, src: str) -> set[int]:
        d: dict[str, set[int]] = {src: {0}}
        for node in syns + [n]:
            d[node] = {x + ((p, node) in self.rec)
                       for p in self.g.predecessors(node) for x in d.get(p, ())}
        return d[n]

    def chain(self, syns: list[str], n: str, src: str) -> list[str]:
        """Synapse nodes on the src -> n paths, in order."""
        fwd, stack = set(), [src]
        while stack:
            for s in self.g.successors(stack.pop()):
                if s in syns and s not in fwd:
                    fwd.add(s)
                    stack.append(s)
        return [s for s in syns if s in fwd]

    def convpair(self, chain: list[str], src: str, n: str) -> dict[str, Any] | None:
        """The fused Conv for a [pool?, Conv2d] chain, or None when the pair needs a Dense."""
        ops = [self.g.nodes[c] for c in chain]
        if not ops or not isinstance(ops[-1], nn.Conv2d) or len(ops) > 2:
            return None
        if any(self.is_syn(p) for p in self.g.predecessors(chain[0])) or any(
                self.g.predecessors(b) != [a] for a, b in itertools.pairwise(chain)):
            return None  # (the first op may also read other layers: their own synapses)
        conv, w = ops[-1], np.asarray(ops[-1].weight)
        kw: dict[str, Any] = {"stride": pair(conv.stride), "padding": pair(conv.padding),
                  "dilation": pair(conv.dilation), "groups": int(conv.groups)}
        if len(ops) == 1:
            return dict(weight=w, **kw)
        pool = ops[0]
        if not (self.o.fuse_pooling and isinstance(pool, nn.SumPool2d)
                and pair(pool.stride) == pair(pool.kernel_size) and pair(pool.padding) == (0, 0)):
            return None
        (ph, pw), (_, h, wd) = pair(pool.kernel_size), self.shapes[src]
        if h % ph or wd % pw:
            raise unsupported(Lower.name, chain[0], pool,
                              f"fusing it into conv {chain[1]!r} needs an input size divisible by "
                              f"the pool kernel, got {h}x{wd} and kernel {ph}x{pw}")
        (dh, dw), (kh, kk) = kw["dilation"], w.shape[2:]
        fused = np.zeros((*w.shape[:2], (kh - 1) * dh * ph + ph, (kk - 1) * dw * pw + pw))
        scale = 1.0 / (ph * pw) if isinstance(pool, nn.AvgPool2d) else 1.0
        for p in range(kh):
            for q in range(kk):
                fused[:, :, p * dh * ph:p * dh * ph + ph, q * dw * pw:q * dw * pw + pw] = (
                    w[:, :, p:p + 1, q:q + 1] * scale)
        return {"weight": fused, "stride": (kw["stride"][0] * ph, kw["stride"][1] * pw),
                    "padding": (kw["padding"][0] * ph, kw["padding"][1] * pw), "dilation": (1, 1),
                    "groups": kw["groups"]}

    def spatially_uniform(self, n: str) -> bool:
        op, shape = self.g.nodes[n], self.shapes[n]
        for field in ("r", "w_in"):
            if hasattr(op, field):
                arr = np.broadcast_to(getattr(op, field), shape)
                if len(shape) != 3 or not np.all(arr == arr[:, :1, :1]):
                    return False
        return True

    def dense(self, syns: list[str], n: str, src: str,
              ops: dict[str, Any] | None = None) -> np.ndarray:
        direct = self.direct_dense(syns, n, src, ops)
        if direct is not None:
            return direct
        n_src, n_out = int(np.prod(self.shapes[src])), int(np.prod(self.shapes[n]))
        m = np.zeros((n_out, n_src))
        for i0 in range(0, n_src, self.o.chunk):
            i1 = min(n_src, i0 + self.o.chunk)
            eye = np.zeros((i1 - i0, n_src))
            eye[np.arange(i1 - i0), np.arange(i0, i1)] = 1.0
            eye = eye.reshape(i1 - i0, *self.shapes[src])
            m[:, i0:i1] = self.evaluate(syns, n, {src: eye}, i1 - i0, False, ops=ops)[n].reshape(
                i1 - i0, -1).T
        return m

    def direct_dense(self, syns: list[str], n: str, src: str,
                     ops: dict[str, Any] | None) -> np.ndarray | None:
        """The matrix of a chain that is one Linear/Affine read straight from src: its weight,
        shared, not pushed through as an identity (which multiplies n_src x n_src x n_out:
        minutes and several copies for a 33M-weight layer). The identity push gives exactly
        these values (each entry is 1 * w plus exact zeros) except that it turns -0.0 into 0.0,
        which is done here too. None for any other chain."""
        chain = self.chain(syns, n, src)
        if ops or len(chain) != 1 or src in self.g.predecessors(n):
            return None
        op: Any = self.g.nodes[chain[0]]
        if type(op) not in (nn.Linear, nn.Affine) or self.g.predecessors(chain[0]) != [src] \
                or chain[0] not in self.g.predecessors(n):
            return None
        w = np.asarray(op.weight, dtype=np.float64)
        zeros = w == 0
        if zeros.any() and np.signbit(w[zeros]).any():
            w = w + 0.0
        return w

    def grouped_sparse(self, p: dict[str, Any], src: str, n: str) -> lo.GroupedSparse:
        """The GroupedSparse of a chain that is one SparseLinear read straight from src into n,
        after Flattens at most (the matrix reads its input flat, C order, anyway): its CSR arrays
        shared, its bias gone to n. Any other chain through one is refused: folding it would
        need the dense matrix."""
        chain, g = p["chain"], self.g
        op: Any = g.nodes[chain[-1]]
        straight = all(g.predecessors(b) == [a] for a, b in itertools.pairwise(chain))
        if not isinstance(op, nn.SparseLinear) or p.get("pad") or not straight \
                or any(type(g.nodes[c]) is not nn.Flatten for c in chain[:-1]) \
                or g.predecessors(chain[0]) != [src] or src in g.predecessors(n) \
                or chain[-1] not in g.predecessors(n):
            node = next(c for c in chain if isinstance(g.nodes[c], nn.SparseLinear))
            raise unsupported(Lower.name, node, g.nodes[node],
                              f"on the way from {src!r} to {n!r} it is not the only synapse op "
                              "(or it joins a skip connection); a sparse weight stays sparse "
                              "only as the whole synapse between two spiking layers")
        return lo.GroupedSparse(op.matrix_shape, op.indptr, op.indices, op.weight,
                                tuple(self.shapes[n]), p["recurrent"], tuple(chain))

    def run(self) -> Graph:
        g = self.g
        neurons = [n for n in g.schedule if g.nodes[n].kind == "neuron"]
        pairs: dict[tuple[str, str], dict[str, Any]] = {}
        biases: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for n in neurons:
            syns, sources = self.upstream(n)
            for src in sources:
                delay = self.delays(syns, n, src)
                chain = self.chain(syns, n, src)
                last = next((p for p in g.predecessors(n) if p in chain), None)
                name = last or f"{src}->{n}"
                if len(delay) != 1 or max(delay) > 1:
                    raise unsupported_edge(Lower.name, src, n, f"its paths through {name!r} "
                                           f"have recurrent delays {sorted(delay)}; one delay of "
                                           "0 or 1 step is needed")
                taken = {p["name"] for p in pairs.values()}
                if name in taken:  # one synapse op on several pairs' paths (residual blocks)
                    name = next(c for c in (f"{name}->{n}", f"{src}->{name}->{n}")
                                if c not in taken)
                pairs[(src, n)] = {"name": name, "chain": chain, "syns": syns,
                                       "recurrent": bool(delay.pop()),
                                       "conv": None if delay_nodes(g, chain)
                                       else self.convpair(chain, src, n)}
            steps = [self.evaluate(syns, n, {}, 1, True, prev={})]
            for _ in range(2):
                steps.append(self.evaluate(syns, n, {}, 1, True, prev=steps[-1]))
            refuse_delayed_bias(self, syns, n, steps)
            c1, c2, c3 = (s[n].reshape(-1) for s in steps)
            if not np.allclose(c3, c2, rtol=1e-12, atol=1e-12 * (1 + np.abs(c2).max(initial=0))):
                raise unsupported(Lower.name, n, g.nodes[n],
                                  "a bias reaches it through two recurrent edges")
            biases[n] = (c1, c2 - c1)
        depth = self.depths(neurons, pairs)
        shaped = self.conv_shapes(neurons, pairs)
        synapses: dict[str, list[tuple[str, str, Any]]] = {n: [] for n in neurons}
        for (src, n), p in pairs.items():
            if p["conv"] is not None and shaped[n]:
                syn: Any = lo.GroupedConv(recurrent=p["recurrent"], chain=tuple(p["chain"]),
                                          **p["conv"])
            elif any(isinstance(g.nodes[c], nn.SparseLinear) for c in p["chain"]):
                syn = self.grouped_sparse(p, src, n)
            else:
                weight, delays = delayed_dense(self, p["syns"], n, src, p["chain"])
                pad = p.get("pad", 0)
                if pad:
                    delays = pad + (np.zeros(weight.shape, np.int64) if delays is None else delays)
                syn = lo.GroupedDense(weight, tuple(self.shapes[n]), p["recurrent"],
                                      tuple(p["chain"]), delays=delays,
                                      delay_node="".join(delay_nodes(g, p["chain"])),
                                      pipeline_pad=pad)
            synapses[n].append((p["name"], src, syn))
        (inp,) = g.inputs
        nodes: dict[str, Any] = {inp: g.nodes[inp]}
        edges: list[tuple[str, str]] = []
        for n in neurons:  # each layer after its incoming synapses, as the hw graph has them
            for name, src, syn in synapses[n]:
                self.check_matrix(name, src, n, syn)
                nodes[name] = syn
                edges += [(src, name), (name, n)]
            nn_shape = tuple(self.shapes[n])
            hw_shape = nn_shape if shaped[n] else (int(np.prod(nn_shape)),)
            nodes[n] = lo.Layer(g.nodes[n], hw_shape, depth[n], *biases[n])
        for out in g.outputs:
            (src,) = g.predecessors(out)
            if src not in neurons:
                raise unsupported(Lower.name, out, g.nodes[out],
                                  f"its source {src!r} is not a spiking layer, and the output "
                                  "must come from a spiking layer on this target")
            nodes[out] = g.nodes[out]
            edges.append((src, out))
        return Graph("nn", nodes, tuple(edges), float(g.dt), dict(g.meta))

    def check_matrix(self, name: str, source: str, target: str, syn: Any) -> None:
        """The pass's own output check: every matrix fits its two ends."""
        n_src, n_tgt = int(np.prod(self.shapes[source])), int(np.prod(self.shapes[target]))
        shape = syn.weight.shape if isinstance(syn, lo.GroupedDense) else getattr(
            syn, "matrix_shape", None)
        if shape is not None and tuple(shape) != (n_tgt, n_src):
            raise GraphCheckError(f"pass lower: synapse {name!r} has a {tuple(shape)} "
                                  f"matrix between {n_src} sources and {n_tgt} targets")

    def depths(self, neurons: list[str], pairs: dict) -> dict[str, int]:
        """A layer's synaptic depth is that of its longest forward input path; a shorter input
        (a skip or residual connection) gets `pad` extra delay steps on its synapse, so every
        input of the layer's nn step t arrives in the same hw step (a DelayDense on hardware)."""
        depth = {self.g.inputs[0]: 0}
        for n in neurons:
            ff = [(src, p) for (src, tgt), p in pairs.items() if tgt == n and not p["recurrent"]]
            if not ff:
                raise unsupported(Lower.name, n, self.g.nodes[n], "it has only recurrent inputs")
            depth[n] = max(depth[src] for src, _ in ff) + 1
            for src, p in ff:
                if depth[src] + 1 < depth[n]:
                    p["pad"], p["conv"] = depth[n] - depth[src] - 1, None
        for (src, n), p in pairs.items():
            if p["recurrent"] and depth[src] != depth[n]:
                raise unsupported_edge(
                    Lower.name, p["name"], n,
                    f"this recurrent connection joins depth {depth[src]} ({src!r}) to depth "
                    f"{depth[n]} ({n!r}); recurrence must join neurons of equal synaptic depth")
        return depth

    def conv_shapes(self, neurons: list[str], pairs: dict) -> dict[str, bool]:
        """Which layers keep (C, H, W) in hw: all their inputs are convs from (C, H, W) sources."""
        shaped = {self.g.inputs[0]: len(self.shapes[self.g.inputs[0]]) == 3}
        shaped.update({n: n not in self.o.flat and self.spatially_uniform(n) and all(
            p["conv"] is not None for (_, t), p in pairs.items() if t == n) for n in neurons})
        changed = True
        while changed:
            changed = False
            for (src, n) in pairs:
                if shaped[n] and not shaped[src]:
                    shaped[n], changed = False, True
        return shaped
