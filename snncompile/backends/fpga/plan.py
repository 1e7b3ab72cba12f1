"""The fpga mapping of a hw graph: one core per partitioner block (fpga/blocks.py), one synapse
group per Dense/Conv into that block.

Shared by the Verilog generator (fpga/rtl.py) and the cycle model (snncompile/sim/cycles.py), so
both see the same cores, sources, widths and pass lengths. Source 0 is the input; source j >= 1 is
the j-th core (in core order) that has outgoing synapses. A population within neurons_per_core is
one block, so one core as before; a larger one is several cores, each holding its block's neurons
and, per incoming op, the rows ending on them: every target's whole fan-in sum of one op stays in
one accumulator (Dense's weight_exp shift comes after it, as in the emulator), fed by every block
of the source population, which sends wire indices (its block's offset + the neuron's place).
"""

from __future__ import annotations

import dataclasses
import tomllib
from functools import cache
from pathlib import Path

import numpy as np

from snncompile.backends import support
from snncompile.backends.fpga.blocks import Block, place, rectangle, wire_order
from snncompile.backends.fpga.conv import ConvGroup, conv_group, weight_format
from snncompile.backends.fpga.delay import delay_groups
from snncompile.backends.fpga.widths import signed_bits
from snncompile.errors import GraphCheckError, SnnCompileError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition.resources import CoreModel
from snncompile.sim.lava_params import effective_bias, effective_weights
from snncompile.target import Target, load_target

KIND = "fpga"  # this back end's key in snncompile.backends.BACKENDS, and its default target
WHERE = "fpga back end"
TIMING = "timing.toml"  # beside the target's target.toml
WORD_PAYLOAD_BITS = 8  # an AnalogInput's payload field in each input word, whatever its bits


def timing(target: str | Path | Target = KIND) -> dict[str, int]:
    """The target's timing.toml as {name: cycles}: the one source of every cycle constant."""
    return dict(_timing(load_target(target).file(TIMING)))


@cache
def _timing(path: Path) -> dict[str, int]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {k: int(v["value"]) for k, v in data["timing"].items()}


def fpga_params(target: str | Path | Target = KIND) -> dict[str, object]:
    """The back-end section ([fpga]) and [limits] values of the target (checked by load_target)."""
    spec = load_target(target)
    return {k: p.value for sec in (spec.backend, "limits") for k, p in spec.sections[sec].items()}


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
    senders: tuple[tuple[int, int], ...] = ()  # (source number, wire offset) of every sender
    # DelayDense (fpga/delay.py): the distinct delays of its nonzero synapses into this core, and
    # per synapse the index of its delay in that tuple (n_src, N), stored beside each weight
    delay_set: tuple[int, ...] = ()
    delay_ids: np.ndarray | None = None
    graded: bool = False  # reads an AnalogInput: each event adds weight x its int8 payload

    @property
    def feeds(self) -> tuple[tuple[int, int], ...]:
        return self.senders or ((self.source, 0),)

    @property
    def n_src(self) -> int:
        return int(self.rows.shape[0])

    @property
    def sel_bits(self) -> int:
        """Bits of the delay-group index stored beside each weight (0: one group or no delays)."""
        return (len(self.delay_set) - 1).bit_length()

    @property
    def max_delay(self) -> int:
        return max(self.delay_set, default=0)

    def memories(self, n: int) -> list[tuple[str, int, int]]:
        """(name, words, bits) of this group's memories in a core of n neurons."""
        if not self.delay_set:
            return [(f"wmem{self.index}", self.n_src * n, self.w_bits),
                    (f"acc{self.index}", n, self.acc_bits)]
        i = self.index
        return [(f"wmem{i}", self.n_src * n, self.w_bits + self.sel_bits),
                *((f"acc{i}_{m}", n, self.acc_bits) for m in range(len(self.delay_set))),
                *((f"line{i}_{k}", n, 32) for k in range(1, self.max_delay + 1))]


@dataclasses.dataclass(frozen=True)
class Core:
    """One block of a LIF or ATRLIF population (`name`) on one time-multiplexed core; local
    neuron i is the population's flat neuron block.neurons[i] and wire index block.offset + i.
    An ATRLIF block (`adaptive`) keeps delta_i, delta_v in du, dv (the same current and voltage
    factors), has no vth, reset or LIFReset, and adds its theta / r constants."""

    index: int
    name: str
    n: int
    du: int | np.ndarray  # one integer, or (N,) int64 when the block's neurons differ
    dv: int | np.ndarray
    vth: int | np.ndarray
    bias: np.ndarray  # (N,) int64, wrap32(bias_mant << bias_exp) as the emulator computes it
    subtract: bool
    reset_interval: int
    reset_offset: int
    groups: tuple[Group | ConvGroup, ...]
    source: int  # its source number if it has outgoing synapses, else 0
    block: Block | None = None
    adaptive: bool = False  # an ATRLIF block: theta and r memories, no voltage reset
    delta_theta: int | np.ndarray = 0
    delta_r: int | np.ndarray = 0
    theta_0: int | np.ndarray = 0
    theta_step: int | np.ndarray = 0
    later: bool = False  # reset "subtract_next": a 1-bit memory holds each neuron's last spike

    @property
    def neurons(self) -> np.ndarray:
        return self.block.neurons if self.block is not None else np.arange(self.n)

    @property
    def per_neuron(self) -> tuple[str, ...]:
        """The fields (of PER_NEURON) this core holds per neuron, in its parameter memory."""
        return tuple(k for k in PER_NEURON if isinstance(getattr(self, k), np.ndarray))

    @property
    def param_groups(self) -> int:
        """Distinct tuples of the PER_NEURON fields among the core's neurons (1: constants)."""
        cols = [np.broadcast_to(np.asarray(getattr(self, k)), (self.n,)) for k in PER_NEURON]
        return len(np.unique(np.stack(cols, axis=1), axis=0)) if self.per_neuron else 1


# the fields a core may hold per neuron: LIF's du, dv, vth, then ATRLIF's own (its delta_i and
# delta_v are du and dv)
PER_NEURON = (*hw.LIF.PER_NEURON, "delta_theta", "delta_r", "theta_0", "theta_step")


def neuron_fields(op: hw.LIF | hw.ATRLIF, neurons: np.ndarray) -> dict:
    """The Core fields of a LIF or ATRLIF population's block (per-neuron ones sliced)."""
    if isinstance(op, hw.ATRLIF):
        return {"du": block_values(op.delta_i, neurons), "dv": block_values(op.delta_v, neurons),
                "vth": 0, "subtract": False, "reset_interval": 0, "reset_offset": 0,
                "adaptive": True, **{k: block_values(getattr(op, k), neurons)
                                     for k in ("delta_theta", "delta_r", "theta_0",
                                               "theta_step")}}
    return {"du": block_values(op.du, neurons), "dv": block_values(op.dv, neurons),
            "vth": block_values(op.vth, neurons), "subtract": op.reset == "subtract",
            "later": op.reset == "subtract_next",
            "reset_interval": int(op.reset_interval), "reset_offset": int(op.reset_offset)}


def block_values(value: int | np.ndarray, neurons: np.ndarray) -> int | np.ndarray:
    """A population's per-neuron field on one block: one integer if its neurons share it."""
    if not isinstance(value, np.ndarray):
        return int(value)
    got = np.asarray(value).reshape(-1)[neurons].astype(np.int64)
    return int(got[0]) if np.all(got == got[0]) else got


@dataclasses.dataclass(frozen=True)
class Plan:
    input_name: str
    n_in: int
    cores: tuple[Core, ...]
    output_name: str
    output_cores: tuple[int, ...]  # the cores of the output population, in wire order
    source_cores: tuple[int, ...]  # source j (1-based) -> core index
    event_len: tuple[int, ...]  # per source (0 = input): cycles of one event pass
    tick_len: int
    clear_len: int
    timing: dict
    placement: object = None  # the partitioner's Placement (placement.json)
    target: Target | None = None  # the board: its limits, clock, templates, timing
    payload_bits: int = 0  # an AnalogInput's payload field in each input word (0: spikes)

    @property
    def n_sources(self) -> int:
        return len(self.source_cores)

    @property
    def output_core(self) -> int:
        return self.output_cores[0]

    @property
    def output_src(self) -> str:
        """The LIF population the output reads."""
        return self.cores[self.output_cores[0]].name

    def core_spikes(self, spikes, batch: int, steps: int) -> list[np.ndarray]:
        """Per core (batch, steps, n) from whole-population arrays {population: (batch, steps,
        *shape)}, e.g. the emulator's trace.spikes (also u, v)."""
        return [np.asarray(spikes[c.name]).reshape(batch, steps, -1)[:, :, c.neurons]
                for c in self.cores]


# what the RTL maps (snncompile.backends.support; docs/support.md is generated from it)
SUPPORTED = frozenset({"SpikeInput", "AnalogInput", "SpikeOutput", "Dense", "DelayDense", "Conv",
                       "LIF", "ATRLIF", "reset-subtract", "reset-subtract-next", "LIFReset",
                       "recurrence", "fan-in", "bias-clock", "per-neuron-parameters"})
WHY = {"GradedInput": "the RTL's input events enter synapses, not a neuron's a_in",
       **dict.fromkeys(("Sigma", "Delta", "SigmaDelta"),
                       "the RTL's cores emit 1-bit spikes and have no sigma-delta neuron (graded "
                       "spikes between layers need a multi-bit event bus; only the analog input "
                       "port carries payloads)"),
       "multi-source-synapse": "a synapse group reads one source core",
       "Sparse": "a core's weight memory is a dense (neurons x in-axons) array; a sparse core is "
                 "not written, so pass sparsify keeps fpga layers Dense",
       "potential-readout": "the RTL's neuron registers hold dv < 4096 and vth < 2^17, and a "
                            "build's output is spikes, not potentials"}


def pass_len(core: Core, group: Group | ConvGroup) -> int:
    """Cycles of the walk one event of `group`'s source makes in `core` (before the overhead):
    every neuron for a Dense, the kernel walk for a Conv (fpga/conv.py)."""
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
    support.check(graph, KIND)


def _check_synapses(graph: Graph, sizes: dict[str, int], n_in: int, target: Target) -> None:
    """Every synapse reads one source (the input or a LIF) and feeds one LIF; every LIF input
    is a synapse; source populations stay within axons_per_core rows."""
    (in_name,) = graph.inputs
    axons = int(fpga_params(target)["axons_per_core"])
    for d in graph.of_kind("synapse"):
        preds, succs = graph.predecessors(d), graph.successors(d)
        kind = type(graph.nodes[d]).__name__
        if len(preds) != 1 or (preds[0] != in_name and preds[0] not in sizes):
            raise UnsupportedOp(graph.nodes[d], WHERE, f"{kind} {d!r} must have one source, the "
                                "input or a LIF")
        if len(succs) != 1 or succs[0] not in sizes:
            raise UnsupportedOp(graph.nodes[d], WHERE, f"{kind} {d!r} must feed one LIF")
        n_src = n_in if preds[0] == in_name else sizes[preds[0]]
        if n_src > axons:
            raise SnnCompileError(f"{WHERE}: {kind} {d!r} has {n_src} inputs, over the limit of "
                                  f"{axons} axons per core")
    for n in sizes:
        bad = [p for p in graph.predecessors(n) if graph.nodes[p].kind != "synapse"]
        if bad:
            raise UnsupportedOp(graph.nodes[n], WHERE, f"LIF {n!r} is fed by {bad[0]!r} without "
                                "a synapse")


def _dense_group(graph: Graph, d: str, index: int, block: Block, wire: np.ndarray,
                 senders: tuple[tuple[int, int], ...]) -> Group:
    """The rows of Dense `d` that end on the block's neurons, one row per source wire index."""
    op = graph.nodes[d]
    w = effective_weights(op)
    n_dst = int(np.prod(graph.shapes[graph.successors(d)[0]]))
    if w.shape != (n_dst, len(wire)):
        raise GraphCheckError(f"{WHERE}: Dense {d!r} has weights {w.shape}, expected "
                              f"({n_dst}, {len(wire)})")
    w = w[block.neurons][:, wire]
    pos, neg = np.clip(w, 0, None).sum(axis=1), np.clip(w, None, 0).sum(axis=1)
    source = graph.nodes[graph.predecessors(d)[0]]
    graded = isinstance(source, hw.AnalogInput)
    if graded:  # signed payloads up to qmax: either sum can reach either sign
        top = max(int(pos.max(initial=0)), -int(neg.min(initial=0))) * source.qmax
        pos, neg = np.array([top]), np.array([-top])
        if isinstance(op, hw.DelayDense):
            raise UnsupportedOp(op, WHERE, f"DelayDense {d!r} reads analog input; the fpga "
                                "delay lines carry spikes, not graded payloads")
    acc_bits = signed_bits(int(neg.min(initial=0)), int(pos.max(initial=0)))
    if acc_bits > 32:
        raise SnnCompileError(f"{WHERE}: Dense {d!r} sums need {acc_bits} bits, over 32")
    k, signed, w_bits = weight_format(w)  # num_weight_bits sets the memory width
    delay_set, delay_ids = (), None
    if isinstance(op, hw.DelayDense):
        delay_set, delay_ids = delay_groups(d, op, w, block.neurons, wire)
    return Group(name=d, index=index, source=senders[0][0], rows=np.ascontiguousarray(w.T),
                 weight_exp=int(op.weight_exp), w_bits=w_bits,
                 acc_bits=max(acc_bits, w_bits + k + (not signed)), w_shift=k, w_signed=signed,
                 senders=senders, kind="delay" if delay_set else "dense", delay_set=delay_set,
                 delay_ids=delay_ids, graded=graded)


def _conv_group(graph: Graph, d: str, index: int, block: Block, wire: np.ndarray,
                senders: tuple[tuple[int, int], ...]) -> ConvGroup:
    """Conv `d` into one block: its output channels x a rectangle of positions, walked exactly."""
    op = graph.nodes[d]
    src, dst = graph.predecessors(d)[0], graph.successors(d)[0]
    out_shape = tuple(graph.shapes[d])
    tile = rectangle(block, out_shape) if len(out_shape) == 3 else None
    if len(out_shape) == 3 and tile is None:
        raise UnsupportedOp(op, WHERE, f"Conv {d!r} feeds block {block.index} of LIF {dst!r} "
                            f"(channels {block.channels[0]}:{block.channels[1]}, strip positions "
                            f"{block.positions[0]}:{block.positions[1]}), which is not a rectangle "
                            "of output positions; the fpga kernel walker addresses rectangular "
                            "tiles only (raise neurons_per_core or set conv_row_tiles)")
    identity = np.array_equal(wire, np.arange(len(wire)))
    source = graph.nodes[src]
    return conv_group(d, op, index, senders[0][0], tuple(graph.shapes[src]), out_shape,
                      channels=block.channels, tile=tile, wire=None if identity else wire,
                      senders=senders, graded=isinstance(source, hw.AnalogInput),
                      payload_max=source.qmax if isinstance(source, hw.AnalogInput) else 1)


def make_plan(graph: Graph, cores: CoreModel | None = None,
              target: str | Path | Target = KIND, placement: object = None) -> Plan:
    """Map `graph` to cores (one per partitioner block under the limits `cores`, default the
    target's [limits]; `placement` if the build has made it already, from the same limits), or
    raise a one-sentence error naming the node or limit at fault."""
    target = load_target(target)
    _refuse(graph)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise GraphCheckError(f"{WHERE}: the graph needs one input and one output, it has "
                              f"{len(graph.inputs)} and {len(graph.outputs)}")
    limits = fpga_params(target)
    tim = timing(target)
    (in_name,) = graph.inputs
    lifs = graph.of_kind("neuron")
    sizes = {n: int(np.prod(graph.nodes[n].shape)) for n in lifs}
    n_in = int(np.prod(graph.shapes[in_name]))
    _check_synapses(graph, sizes, n_in, target)
    (out_name,) = graph.outputs
    out_src = graph.predecessors(out_name)
    if len(out_src) != 1 or out_src[0] not in sizes:
        raise UnsupportedOp(graph.nodes[out_name], WHERE, f"output {out_name!r} must read one LIF")
    placement, blocks = place(graph, cores, target, placement)
    if len(blocks) > int(limits["cores"]):
        raise SnnCompileError(f"{WHERE}: the partitioner's {len(blocks)} blocks ({len(lifs)} LIF "
                              f"populations) exceed the limit of {limits['cores']} cores")
    # sources: cores whose population feeds a synapse, numbered 1.. in core order
    feeds = {p for d in graph.of_kind("synapse") for p in graph.predecessors(d)}
    source_cores = tuple(k for k, b in enumerate(blocks) if b.layer in feeds)
    src_num = {k: j + 1 for j, k in enumerate(source_cores)}
    senders = {in_name: ((0, 0),)}
    wires = {in_name: np.arange(n_in)}
    for n in lifs:
        senders[n] = tuple((src_num[k], b.offset) for k, b in enumerate(blocks)
                           if b.layer == n and k in src_num)
        wires[n] = wire_order(blocks, n)
    made = []
    for k, b in enumerate(blocks):
        groups: list[Group | ConvGroup] = []
        for d in graph.of_kind("synapse"):
            if graph.successors(d)[0] != b.layer:
                continue
            src = graph.predecessors(d)[0]
            make = _conv_group if isinstance(graph.nodes[d], hw.Conv) else _dense_group
            groups.append(make(graph, d, len(groups), b, wires[src], senders[src]))
        op = graph.nodes[b.layer]
        bias = effective_bias(op)
        made.append(Core(
            index=k, name=b.layer, n=b.n, bias=bias[b.neurons].astype(np.int64),
            groups=tuple(groups), source=src_num.get(k, 0), block=b,
            **neuron_fields(op, b.neurons)))
    over = tim["pass_overhead"]
    dests: dict[int, list[int]] = {}
    for c in made:
        _check_conv_sources(c)
        for g in c.groups:
            for j, _ in g.feeds:  # every block of the source reaches every core that reads it
                dests.setdefault(j, []).append(pass_len(c, g))
    n_sources = len(source_cores) + 1
    event_len = tuple(max(dests.get(s, [0])) + over for s in range(n_sources))
    big_n = max((c.n for c in made), default=1)
    return Plan(input_name=in_name, n_in=n_in, cores=tuple(made), output_name=out_name,
                output_cores=tuple(k for k, b in enumerate(blocks) if b.layer == out_src[0]),
                source_cores=source_cores, event_len=event_len,
                tick_len=big_n + over, clear_len=big_n + over, timing=tim, placement=placement,
                target=target, payload_bits=WORD_PAYLOAD_BITS if isinstance(
                    graph.nodes[in_name], hw.AnalogInput) else 0)
