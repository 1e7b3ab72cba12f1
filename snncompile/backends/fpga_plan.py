"""The fpga mapping of a hw graph: one core per LIF population, one synapse group per Dense/Conv.

Shared by the Verilog generator (fpga_rtl.py) and the cycle model (snncompile/sim/cycles.py), so
both see the same cores, sources, widths and pass lengths. Source 0 is the input; source j >= 1 is
the j-th core (in core order) that has outgoing synapses.
"""

from __future__ import annotations

import dataclasses
import tomllib
from functools import cache
from importlib import resources

import numpy as np

from snncompile.backends import support
from snncompile.backends.fpga_conv import ConvGroup, conv_group, weight_format
from snncompile.errors import GraphCheckError, SnnCompileError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import effective_weights, wrap
from snncompile.target import load_target

WHERE = "fpga back end"


def clog2(n: int) -> int:
    """Bits to count 0..n-1, at least 1 (Verilog has no zero-width vectors)."""
    return max(1, (int(n) - 1).bit_length())


def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement width holding every integer in [lo, hi] (at least 2)."""
    bits = 2
    while lo < -(1 << (bits - 1)) or hi > (1 << (bits - 1)) - 1:
        bits += 1
    return bits


@cache
def timing() -> dict[str, int]:
    """targets/fpga/timing.toml as {name: cycles}: the one source of every cycle constant."""
    path = resources.files("snncompile.targets") / "fpga" / "timing.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {k: int(v["value"]) for k, v in data["timing"].items()}


@cache
def fpga_params() -> dict[str, object]:
    """The [fpga] and [limits] values of targets/fpga/target.toml (checked by load_target)."""
    spec = load_target("fpga")
    return {k: p.value for sec in ("fpga", "limits") for k, p in spec.sections[sec].items()}


@dataclasses.dataclass(frozen=True)
class Group:
    """One Dense into a core: weights as rows per source neuron (row a = axon a)."""

    name: str
    index: int
    source: int  # 0 = input, j >= 1 = source core j
    rows: np.ndarray  # (n_src, N) int64, Lava-preprocessed
    weight_exp: int
    w_bits: int  # bits per stored word (rows >> w_shift, unsigned unless w_signed)
    acc_bits: int
    w_shift: int = 0
    w_signed: bool = True
    kind: str = "dense"

    @property
    def n_src(self) -> int:
        return int(self.rows.shape[0])

    def memories(self, n: int) -> list[tuple[str, int, int]]:
        """(name, words, bits) of this group's memories in a core of n neurons."""
        return [(f"wmem{self.index}", self.n_src * n, self.w_bits),
                (f"acc{self.index}", n, self.acc_bits)]


@dataclasses.dataclass(frozen=True)
class Core:
    """One LIF population on one time-multiplexed core."""

    index: int
    name: str
    n: int
    du: int
    dv: int
    vth: int
    bias: np.ndarray  # (N,) int64, wrap32(bias_mant << bias_exp) as the emulator computes it
    subtract: bool
    reset_interval: int
    reset_offset: int
    groups: tuple[Group | ConvGroup, ...]
    source: int  # its source number if it has outgoing synapses, else 0


@dataclasses.dataclass(frozen=True)
class Plan:
    input_name: str
    n_in: int
    cores: tuple[Core, ...]
    output_name: str
    output_core: int
    source_cores: tuple[int, ...]  # source j (1-based) -> core index
    event_len: tuple[int, ...]  # per source (0 = input): cycles of one event pass
    tick_len: int
    clear_len: int
    timing: dict

    @property
    def n_sources(self) -> int:
        return len(self.source_cores)


# what the RTL maps (snncompile.backends.support; docs/support.md is generated from it)
SUPPORTED = frozenset({"SpikeInput", "SpikeOutput", "Dense", "Conv", "LIF", "reset-subtract",
                       "LIFReset", "recurrence", "fan-in", "bias-clock"})
WHY = {"GradedInput": "the RTL takes spike inputs",
       "DelayDense": "the RTL's synapse groups have no per-synapse delay lines",
       "ATRLIF": "the RTL has no adaptive threshold (ATRLIF) neuron",
       "multi-source-synapse": "a synapse group reads one source core"}


def pass_len(core: Core, group: Group | ConvGroup) -> int:
    """Cycles of the walk one event of `group`'s source makes in `core` (before the overhead):
    every neuron for a Dense, the kernel walk for a Conv (fpga_conv.py)."""
    return group.walk_len if isinstance(group, ConvGroup) else core.n


def _check_conv_sources(core: Core) -> None:
    """A source that reaches a core through a Conv reaches it through nothing else (an event pass
    runs one walk, whose length depends on the group)."""
    for g in core.groups:
        if isinstance(g, ConvGroup):
            other = [h.name for h in core.groups if h.source == g.source and h is not g]
            if other:
                raise SnnCompileError(f"{WHERE}: LIF {core.name!r} gets the same source through "
                                      f"Conv {g.name!r} and {other[0]!r}; the fpga core runs one "
                                      "walk per event")


def _refuse(graph: Graph) -> None:
    support.check(graph, "fpga")


def make_plan(graph: Graph) -> Plan:
    """Map `graph` to cores, or raise a one-sentence error naming the node or limit at fault."""
    _refuse(graph)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise GraphCheckError(f"{WHERE}: the graph needs one input and one output, it has "
                              f"{len(graph.inputs)} and {len(graph.outputs)}")
    limits = fpga_params()
    tim = timing()
    (in_name,) = graph.inputs
    lifs = graph.of_kind("neuron")
    if len(lifs) > int(limits["cores"]):
        raise SnnCompileError(f"{WHERE}: {len(lifs)} LIF populations exceed the limit of "
                              f"{limits['cores']} cores")
    index = {n: i for i, n in enumerate(lifs)}
    sizes = {n: int(np.prod(graph.nodes[n].shape)) for n in lifs}
    n_in = int(np.prod(graph.shapes[in_name]))
    for n in lifs:
        if sizes[n] > int(limits["neurons_per_core"]):
            raise SnnCompileError(f"{WHERE}: LIF {n!r} has {sizes[n]} neurons, over the limit of "
                                  f"{limits['neurons_per_core']} per core")
    # sources: cores that feed a Dense, numbered 1.. in core order
    feeds = {p for d in graph.of_kind("synapse") for p in graph.predecessors(d)}
    source_cores = tuple(index[n] for n in lifs if n in feeds)
    src_of = {in_name: 0, **{lifs[c]: j + 1 for j, c in enumerate(source_cores)}}
    groups: dict[str, list[Group | ConvGroup]] = {n: [] for n in lifs}
    for d in graph.of_kind("synapse"):
        preds, succs = graph.predecessors(d), graph.successors(d)
        kind = type(graph.nodes[d]).__name__
        if len(preds) != 1 or preds[0] not in src_of:
            raise UnsupportedOp(graph.nodes[d], WHERE, f"{kind} {d!r} must have one source, the "
                                "input or a LIF")
        if len(succs) != 1 or succs[0] not in index:
            raise UnsupportedOp(graph.nodes[d], WHERE, f"{kind} {d!r} must feed one LIF")
        src, dst = preds[0], succs[0]
        n_src = n_in if src == in_name else sizes[src]
        if n_src > int(limits["axons_per_core"]):
            raise SnnCompileError(f"{WHERE}: {kind} {d!r} has {n_src} inputs, over the limit of "
                                  f"{limits['axons_per_core']} axons per core")
        if isinstance(graph.nodes[d], hw.Conv):
            groups[dst].append(conv_group(d, graph.nodes[d], len(groups[dst]), src_of[src],
                                          tuple(graph.shapes[src]), tuple(graph.shapes[d])))
            continue
        w = effective_weights(graph.nodes[d])
        if w.shape != (sizes[dst], n_src):
            raise GraphCheckError(f"{WHERE}: Dense {d!r} has weights {w.shape}, expected "
                                  f"({sizes[dst]}, {n_src})")
        pos, neg = np.clip(w, 0, None).sum(axis=1), np.clip(w, None, 0).sum(axis=1)
        acc_bits = signed_bits(int(neg.min(initial=0)), int(pos.max(initial=0)))
        if acc_bits > 32:
            raise SnnCompileError(f"{WHERE}: Dense {d!r} sums need {acc_bits} bits, over 32")
        k, signed, w_bits = weight_format(w)  # num_weight_bits sets the memory width
        groups[dst].append(Group(
            name=d, index=len(groups[dst]), source=src_of[src],
            rows=np.ascontiguousarray(w.T), weight_exp=int(graph.nodes[d].weight_exp),
            w_bits=w_bits, acc_bits=max(acc_bits, w_bits + k + (not signed)), w_shift=k,
            w_signed=signed))
    for n in lifs:
        bad = [p for p in graph.predecessors(n) if graph.nodes[p].kind != "synapse"]
        if bad:
            raise UnsupportedOp(graph.nodes[n], WHERE, f"LIF {n!r} is fed by {bad[0]!r} without "
                                "a synapse")
    cores = []
    for n in lifs:
        op = graph.nodes[n]
        shape = tuple(op.shape)
        mant = wrap(np.broadcast_to(np.asarray(op.bias_mant, np.int64), shape).reshape(-1), 16)
        exp = np.broadcast_to(np.asarray(op.bias_exp, np.int64), shape).reshape(-1)
        bias = wrap(np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0)), 32)
        cores.append(Core(
            index=index[n], name=n, n=sizes[n], du=int(op.du), dv=int(op.dv), vth=int(op.vth),
            bias=bias.astype(np.int64), subtract=op.reset == "subtract",
            reset_interval=int(op.reset_interval), reset_offset=int(op.reset_offset),
            groups=tuple(groups[n]), source=src_of.get(n, 0)))
    (out_name,) = graph.outputs
    out_src = graph.predecessors(out_name)
    if len(out_src) != 1 or out_src[0] not in index:
        raise UnsupportedOp(graph.nodes[out_name], WHERE, f"output {out_name!r} must read one LIF")
    over = tim["pass_overhead"]
    dests: dict[int, list[int]] = {}
    for c in cores:
        _check_conv_sources(c)
        for g in c.groups:
            dests.setdefault(g.source, []).append(pass_len(c, g))
    n_sources = len(source_cores) + 1
    event_len = tuple(max(dests.get(s, [0])) + over for s in range(n_sources))
    big_n = max((c.n for c in cores), default=1)
    return Plan(input_name=in_name, n_in=n_in, cores=tuple(cores), output_name=out_name,
                output_core=index[out_src[0]], source_cores=source_cores, event_len=event_len,
                tick_len=big_n + over, clear_len=big_n + over, timing=tim)
