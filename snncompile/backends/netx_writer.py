"""The standard lava-dl netx `/layer` view of a hw graph, written only where it is exact.

`netx.hdf5.Network` rebuilds a Lava network from `/layer` its own way (spec §4.2): it re-encodes
every dense weight matrix with `optimize_weight_bits`, lets Lava clip and truncate the result, and
gives every neuron bias_exp = 6. So the writer first simulates exactly that for each layer and
writes nothing unless every layer comes out with our emulator's sums; otherwise it returns one
sentence per reason, naming the node, so the caller can keep just the exact `/snncompile` graph.
Fan-in from earlier layers is written as a `concat` layer (frontends/netx_concat.py): our reader
reads it back exactly, lava-dl 0.6.0's netx builds no concat at all.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from snncompile.backends import support
from snncompile.frontends.netx import optimize_weight_bits
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim.lava_params import effective_weights

# what lava-dl netx 0.6.0 rebuilds exactly from /layer (snncompile.backends.support)
SUPPORTED = frozenset({"SpikeInput", "GradedInput", "SpikeOutput", "Dense", "DelayDense", "Conv",
                       "LIF", "recurrence", "potential-readout", "Sigma", "Delta", "SigmaDelta",
                       "fan-in"})  # fan-in: skips from earlier layers, as a `concat` layer
# the SDNN neurons netx builds (hdf5.py get_neuron_params with Network's default spike_exp)
NETX_SDNN = {"spike_exp": 6, "state_exp": 6, "num_message_bits": 16, "cum_error": False}
WHY = {"reset-subtract": "netx's LIF resets to zero",
       "per-neuron-parameters": "the exporter writes one iDecay, vDecay and vThMant per "
                                "layer (per-neuron vectors are not written yet)",
       "reset-subtract-next": "netx's LIF resets to zero",
       "ATRLIF": "netx has no adaptive threshold (ATRLIF) neuron type",
       "LIFReset": "netx resets all layers together or not at all",
       "bias-clock": "netx layers form one chain with no extra populations",
       "multi-source-synapse": "netx layers form a single chain",
       "AnalogInput": "a netx input layer sends its values into a neuron, never into a synapse",
       "Sparse": "netx files hold fully-connected weights as dense matrices (lava-dl's "
                 "sparse_fc_layer only builds Lava's Sparse from them); the exact sparse graph "
                 "stays in /snncompile"}


class Link(NamedTuple):
    """One netx layer of the chain: its LIF, the synapse from the layer before (None for a graded
    input's own LIF), a recurrent Dense from itself, and the skips [(source, synapse)] that a
    `concat` layer before it joins (netx_concat.py)."""

    lif: str
    syn: str | None
    rec: str | None
    skips: list[tuple[str, str]]


def _chain(g: Graph, why: list[str]) -> list[Link]:
    """The LIFs in order, each reading the one before (plus skips from earlier ones), or []."""
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        why.append(f"the graph has inputs {g.inputs} and outputs {g.outputs}; netx is one chain")
        return []
    (inp,), (out,) = g.inputs, g.outputs
    chain: list[Link] = []
    members, seen = [inp], {inp, out}
    for lif in [n for n in g.schedule if g.nodes[n].kind == "neuron"]:
        preds = g.predecessors(lif)
        rec = [p for p in preds if g.nodes[p].kind == "synapse" and g.predecessors(p) == [lif]]
        forward = [p for p in preds if p not in rec]
        if len(rec) > 1 or (rec and type(g.nodes[rec[0]]) is not hw.Dense):
            why.append(f"LIF {lif!r} sums synapses {preds}; netx has at most one recurrent "
                       "Dense from the layer itself")
            return []
        if forward == [inp] and isinstance(g.nodes[inp], hw.GradedInput) and not chain:
            if rec:
                why.append(f"LIF {lif!r} reads the graded input and has recurrence; netx's input "
                           "layer is a neuron without synapses")
                return []
            chain.append(Link(lif, None, None, []))
            members.append(lif)
            seen.add(lif)
            continue
        bad = [p for p in forward if g.nodes[p].kind != "synapse" or len(g.predecessors(p)) != 1
               or g.successors(p) != [lif]]
        sources = [g.predecessors(p)[0] for p in forward if p not in bad]
        late = [s for s in sources if s not in members]
        if bad or late or members[-1] not in sources:
            why.append(f"LIF {lif!r} reads {preds}; a netx layer reads the layer before it "
                       f"({members[-1]!r}) through one synapse, and earlier layers only through "
                       "a concat")
            return []
        main = forward[sources.index(members[-1])]
        if rec and isinstance(g.nodes[main], hw.DelayDense):
            why.append(f"LIF {lif!r} has delays and recurrence (netx's dense_rec with delays drops "
                       "the weight exponent)")
            return []
        skips = [(s, p) for s, p in zip(sources, forward) if p != main]
        chain.append(Link(lif, main, rec[0] if rec else None, skips))
        members.append(lif)
        seen |= {lif, *forward, *rec}
    if not chain or g.predecessors(out) != [chain[-1].lif]:
        why.append("the output does not read the last layer")
    missing = [n for n in g.nodes if n not in seen]
    if missing:
        why.append(f"nodes {missing} are not on the single chain netx can express")
    return chain


def _file_weights(name: str, op: hw.Dense, why: list[str]) -> np.ndarray | None:
    """Integer weights whose plain sum equals our shifted sum shift(W_eff @ s, weight_exp)."""
    w, e = effective_weights(op), int(op.weight_exp)
    if e >= 0:
        return w << e
    m = -e
    single = (np.count_nonzero(w, axis=1) <= 1)[:, None]  # floor of one weight is linear
    bad = ~(((w % (1 << m)) == 0) | single)
    if bad.any():
        why.append(f"Dense {name!r}: weight_exp {e} floors sums of weights not divisible by "
                   f"{1 << m} ({int(bad.any(axis=1).sum())} rows); netx's sums are exact integers")
        return None
    return w >> m


def _netx_exact(names: list[str], mats: list[np.ndarray], why: list[str]) -> bool:
    """Simulate netx's joint optimize_weight_bits and Lava's per-matrix clip/truncate."""
    both = np.hstack(mats)
    if both.max(initial=0) > 255 or both.min(initial=0) < -256:
        why.append(f"Dense {names[0]!r}: its weights times 2^weight_exp reach [{both.min()}, "
                   f"{both.max()}], past netx's 8 bits (netx has no positive weight exponent)")
        return False
    opt = optimize_weight_bits(both)
    if isinstance(opt, str):
        why.append(f"Dense {names[0]!r}: {opt}")
        return False
    wq, bits, exp = opt
    start, ok = 0, True
    for name, mat in zip(names, mats):
        part = wq[:, start:start + mat.shape[1]]
        start += mat.shape[1]
        mixed = part.min(initial=0) < 0 < part.max(initial=0)
        k = 8 - bits + mixed
        lava = (effective_weights(hw.Dense(part, exp, max(bits, 1))) if 1 <= bits and k >= 0
                else None)
        # exact iff Lava keeps W' = W << -exp (netx may have clipped it), then >> -exp undoes it
        if lava is None or not np.array_equal(lava, mat.astype(np.int64) << -exp):
            why.append(f"Dense {name!r}: netx would encode it as {bits} weight bits, exponent "
                       f"{exp}, which Lava's clip/truncate does not keep exact")
            ok = False
    return ok


def _sdnn(g: Graph, name: str, first: bool, why: list[str]) -> dict[str, Any]:
    """netx's SDNN neuron group for a Sigma, Delta or SigmaDelta population, with the reasons
    netx would build another one: Delta only as the input layer, SigmaDelta with ReLU, and
    spike_exp = state_exp = 6, 16 message bits, no cum_error (what Network gives them)."""
    op = g.nodes[name]
    if (type(op) is hw.Delta) != first:
        why.append(f"{type(op).__name__} {name!r}: netx builds a Delta for the input layer and "
                   "Sigma or SigmaDelta after a synapse")
    if type(op) is hw.Sigma:
        if op.num_message_bits != NETX_SDNN["num_message_bits"]:
            why.append(f"Sigma {name!r} sends {op.num_message_bits}-bit messages; netx 16")
        return {"neuron": {"type": "SDNN", "sigma_output": 1}, "bias": None}
    have = {k: getattr(op, k) for k in NETX_SDNN}
    if have != NETX_SDNN or getattr(op, "act_mode", "relu") != "relu":
        why.append(f"{type(op).__name__} {name!r} has {have}, act_mode "
                   f"{getattr(op, 'act_mode', '-')}; netx builds {NETX_SDNN} with ReLU")
    bias = None
    if type(op) is hw.SigmaDelta and np.any(op.bias):
        full = np.broadcast_to(np.asarray(op.bias, np.int64), g.shapes[name])
        bias = full.transpose(*range(full.ndim)[::-1])  # netx: per-neuron biases in (W, H, C)
    return {"neuron": {"type": "SDNN", "vThMant": int(op.vth)}, "bias": bias}


def _neuron(g: Graph, name: str, graded: bool, why: list[str]) -> dict[str, Any] | None:
    op: hw.LIF = g.nodes[name]
    if isinstance(op, hw.Sigma):  # and Delta, SigmaDelta
        return _sdnn(g, name, graded, why)
    if not isinstance(op, hw.LIF):  # e.g. ATRLIF: support.reasons has refused it already
        return {"neuron": {}, "bias": None}
    shape = g.shapes[name]
    mant = np.broadcast_to(np.asarray(op.bias_mant, np.int64), shape)
    mant = mant.astype(np.int16).astype(np.int64)
    exp = np.broadcast_to(np.asarray(op.bias_exp, np.int64), shape)
    raw = np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0))
    if graded and raw.any():
        why.append(f"LIF {name!r} reads the graded input and has a bias; netx's input layer "
                   "gives its neuron no bias")
    if (raw % 64).any() or np.abs(raw // 64).max(initial=0) > 2**15 - 1:
        why.append(f"LIF {name!r} has a bias that is not a multiple of 64 raw units within int16 "
                   "mantissas (netx fixes bias_exp = 6)")
    # a per-neuron du/dv/vth is already a reason (nothing is written then); the first neuron's
    # value keeps the walk going so that every other reason is found too
    du, dv, vth = (int(np.asarray(getattr(op, k)).reshape(-1)[0]) for k in ("du", "dv", "vth"))
    cfg = {"iDecay": du + 1, "vDecay": dv, "vThMant": vth}
    # netx reads per-neuron biases in (W, H, C)
    bias = (raw // 64).transpose(*range(raw.ndim)[::-1])
    return {"neuron": cfg, "bias": bias if raw.any() else None}


def _layer(parent: Any, index: int, kind: str, data: dict[str, Any]) -> None:
    g = parent.create_group(str(index))
    g.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
    for key, value in data.items():
        if key == "neuron":
            g.create_dataset("neuron/type", data=value.get("type", "CUBA"))
            for k, v in value.items():
                if k != "type":
                    g.create_dataset(f"neuron/{k}", data=int(v))  # no messageBits (spec §4.4)
        elif value is not None:
            g.create_dataset(key, data=np.asarray(value))


def _name_fields(g: Graph, reason: str) -> str:
    """A per-neuron refusal names the fields that differ ("per-neuron du and vth at node ...")."""
    generic = "per-neuron du, dv or vth at node "
    if generic not in reason:
        return reason
    node = reason.split(generic, 1)[1].split("'")[1]
    op = g.nodes[node]
    fields = [k for k in getattr(op, "PER_NEURON", ())
              if isinstance(getattr(op, k, None), np.ndarray)]
    return reason.replace(generic, f"per-neuron {' and '.join(fields)} at node ")


def _joined(g: Graph, link: Link, prev: str, files: dict[str, int], depth: dict[str, int],
            why: list[str]) -> tuple[hw.HWOp | None, dict[str, Any] | None]:
    """The layer's one synapse over its concatenated inputs, and the `concat` layer before it
    (None without skips); reasons when netx's concat cannot say it (netx_concat.py)."""
    assert link.syn is not None
    if not link.skips:
        return g.nodes[link.syn], None
    names = [link.syn, *(syn for _, syn in link.skips)]
    sources = [prev, *(src for src, _ in link.skips)]
    ops = [g.nodes[n] for n in names]
    pads = g.meta.get("pipeline_delay", {})
    for name, src in zip(names, sources):
        lead = depth[link.lif] - 1 - depth[src]
        if int(pads.get(name, 0)) != lead:
            why.append(f"synapse {name!r} counts {pads.get(name, 0)} steps of pipeline delay; "
                       f"a netx concat gives it {lead} (its skip's lead over the main path)")
    shapes = [tuple(g.shapes[s]) for s in sources]
    if all(len(s) == 1 for s in shapes):
        shape: tuple[int, ...] = (sum(s[0] for s in shapes),)
    elif all(len(s) == 3 for s in shapes) and len({s[1:] for s in shapes}) == 1:
        shape = (sum(s[0] for s in shapes), *shapes[0][1:])
    else:
        why.append(f"LIF {link.lif!r} reads layers of shapes {shapes}; a netx concat joins "
                   "vectors, or (C, H, W) layers of equal H and W")
        return None, None
    unknown = [s for s in sources if s not in files]
    if unknown or len({type(op) for op in ops}) > 1:
        why.append(f"LIF {link.lif!r} reads {unknown or 'synapses of different kinds'}; a netx "
                   "concat lists layers before it and one dense or conv layer reads it")
        return None, None
    ids = [files[s] for s in sources[1:]]
    concat = {"shape": np.array(shape, np.int64),
              "layers": np.array([files[prev], *ids] if prev in sources[1:] else ids, np.int64)}
    if isinstance(ops[0], hw.Conv):
        convs: list[hw.Conv] = ops  # type: ignore[assignment]
        if len({(c.stride, c.padding, c.dilation, c.groups) for c in convs}) > 1 or any(
                c.groups != 1 for c in convs):
            why.append(f"convs {names} into LIF {link.lif!r} differ in stride, padding, dilation "
                       "or have groups; one conv layer reads a netx concat")
            return None, None
        return hw.Conv(np.concatenate([c.weight for c in convs], axis=1), convs[0].stride,
                       convs[0].padding, convs[0].dilation), concat
    mats = [_file_weights(n, op, why) for n, op in zip(names, ops)]
    if any(m is None for m in mats):
        return None, None
    extra = ({"delays": np.hstack([op.delays for op in ops])}
             if isinstance(ops[0], hw.DelayDense) else {})
    return type(ops[0])(np.hstack(mats), 0, 8, **extra), concat


def write_layers(hw_graph: Graph, h5file: Any) -> list[str]:
    """Write `/layer` into the open h5py file and return [], or write nothing and return reasons."""
    if "layer" in h5file:
        return ["the file already has a /layer group"]
    g = hw_graph
    why = [_name_fields(g, r) for r in support.reasons(g, "netx export")]
    features = len(why)
    if any(isinstance(op, hw.Sparse) for op in g.nodes.values()):
        return why  # named above (WHY["Sparse"]); the walk below reads dense matrices
    chain = _chain(g, why)
    if len(why) > features or not chain:
        return why
    (inp,) = g.inputs
    graded = isinstance(g.nodes[inp], hw.GradedInput)
    layers: list[tuple[str, dict[str, Any]]] = []
    first = {"shape": np.array(g.shapes[inp], np.int64)}
    transform = g.meta.get("netx_input_transform", {})
    prev, files, depth = inp, {inp: 0}, {inp: 0}  # file layer ids and depths of layer outputs
    for link in chain:
        lif, syn, rec = link.lif, link.syn, link.rec
        neuron = _neuron(g, lif, syn is None, why)
        shape = g.shapes[lif]
        if syn is None:  # the graded input's own LIF: netx's input layer with a neuron
            first.update(neuron=neuron["neuron"],
                         **{k: transform.get(k) for k in ("weight", "bias")})
            prev, files[lif], depth[lif] = lif, 0, 0
            del files[inp]  # its output is the neuron's
            continue
        depth[lif] = 1 + max(depth[s] for s in [prev, *(src for src, _ in link.skips)])
        op, concat = _joined(g, link, prev, files, depth, why)
        if op is None:
            return why
        prev_shape = g.shapes[prev] if concat is None else tuple(concat["shape"])
        if concat is not None:
            layers.append(("concat", concat))
        data: dict[str, Any] = {"shape": np.array(shape, np.int64), "bias": neuron["bias"]}
        if isinstance(op, hw.Conv):
            data.update(weight=np.asarray(op.weight, np.int64), stride=np.array(op.stride),
                        padding=np.array(op.padding), dilation=np.array(op.dilation),
                        groups=int(op.groups))
            kind = "conv"
        else:
            mats = [op.weights if concat else _file_weights(syn, op, why)]
            if rec is not None:
                mats.append(_file_weights(rec, g.nodes[rec], why))
            if all(m is not None for m in mats) and _netx_exact(
                    [syn] + ([rec] if rec else []), mats, why):
                data["weight"] = mats[0]
                if rec is not None:
                    data["weight_rec"] = mats[1]
            if isinstance(op, hw.DelayDense):
                data["delay"] = np.asarray(op.delays, np.int64)
            kind = "dense_rec" if rec else "dense"
            if len(prev_shape) > 1 and (layers or graded):
                layers.append(("flatten", {}))
        layers.append((kind, {**data, "neuron": neuron["neuron"]}))
        prev, files[lif] = lif, len(layers)
    if why:
        return why
    group = h5file.create_group("layer")
    for i, (kind, data) in enumerate([("input", first), *layers]):
        _layer(group, i, kind, data)
    return []
