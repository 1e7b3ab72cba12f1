"""The standard lava-dl netx `/layer` view of a hw graph, written only where it is exact.

`netx.hdf5.Network` rebuilds a Lava network from `/layer` its own way (spec §4.2): it re-encodes
every dense weight matrix with `optimize_weight_bits`, lets Lava clip and truncate the result, and
gives every neuron bias_exp = 6. So the writer first simulates exactly that for each layer and
writes nothing unless every layer comes out with our emulator's sums; otherwise it returns one
sentence per reason, naming the node, so the caller can keep just the exact `/snncompile` graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.backends import support
from snncompile.frontends.netx import optimize_weight_bits
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim.lava_params import effective_weights

# what lava-dl netx 0.6.0 rebuilds exactly from /layer (snncompile.backends.support)
SUPPORTED = frozenset({"SpikeInput", "GradedInput", "SpikeOutput", "Dense", "DelayDense", "Conv",
                       "LIF", "recurrence", "potential-readout", "Sigma", "Delta", "SigmaDelta"})
# the SDNN neurons netx builds (hdf5.py get_neuron_params with Network's default spike_exp)
NETX_SDNN = {"spike_exp": 6, "state_exp": 6, "num_message_bits": 16, "cum_error": False}
WHY = {"reset-subtract": "netx's LIF resets to zero",
       "per-neuron-parameters": "the exporter writes one iDecay, vDecay and vThMant per "
                                "layer (per-neuron vectors are not written yet)",
       "reset-subtract-next": "netx's LIF resets to zero",
       "ATRLIF": "netx has no adaptive threshold (ATRLIF) neuron type",
       "LIFReset": "netx resets all layers together or not at all",
       "bias-clock": "netx layers form one chain with no extra populations",
       "fan-in": "netx has one forward synapse per layer",
       "multi-source-synapse": "netx layers form a single chain",
       "AnalogInput": "a netx input layer sends its values into a neuron, never into a synapse",
       "Sparse": "netx files hold fully-connected weights as dense matrices (lava-dl's "
                 "sparse_fc_layer only builds Lava's Sparse from them); the exact sparse graph "
                 "stays in /snncompile"}


def _chain(g: Graph, why: list[str]) -> list[tuple[str, str | None, str | None]]:
    """[(lif, forward synapse or None for a graded input's LIF, recurrent Dense or None)] in
    order."""
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        why.append(f"the graph has inputs {g.inputs} and outputs {g.outputs}; netx is one chain")
        return []
    (node,) = g.inputs
    chain: list[tuple[str, str | None, str | None]] = []
    seen = {node}
    while True:
        nexts = [n for n in g.successors(node) if n not in seen]
        if len(nexts) != 1:
            why.append(f"node {node!r} feeds {nexts}; netx layers form a single chain")
            return []
        (nxt,) = nexts
        op = g.nodes[nxt]
        if op.kind == "output":
            seen.add(nxt)
            break
        syn = None
        if op.kind == "synapse":
            syn, seen = nxt, seen | {nxt}
            lifs = g.successors(syn)
            if len(lifs) != 1 or g.nodes[lifs[0]].kind != "neuron":
                why.append(f"synapse {syn!r} feeds {lifs}, not one LIF")
                return []
            nxt = lifs[0]
        elif op.kind != "neuron" or not isinstance(g.nodes[node], hw.GradedInput) or chain:
            why.append(f"node {node!r} feeds {nxt!r} without a synapse; netx has that only for "
                       "a graded input into its LIF")
            return []
        rec = [p for p in g.predecessors(nxt) if p not in (syn, node)]
        if len(rec) > 1 or (rec and (g.predecessors(rec[0]) != [nxt]
                                     or type(g.nodes[rec[0]]) is not hw.Dense)):
            why.append(f"LIF {nxt!r} sums synapses {g.predecessors(nxt)}; netx has one forward "
                       "synapse per layer and at most one recurrent Dense from the layer itself")
            return []
        if rec and syn is None:
            why.append(f"LIF {nxt!r} reads the graded input and has recurrence; netx's input "
                       "layer is a neuron without synapses")
            return []
        if rec and isinstance(g.nodes[syn], hw.DelayDense):
            why.append(f"LIF {nxt!r} has delays and recurrence (netx's dense_rec with delays drops "
                       "the weight exponent)")
            return []
        seen |= {nxt, *rec}
        chain.append((nxt, syn, rec[0] if rec else None))
        node = nxt
    if not chain or g.predecessors(g.outputs[0]) != [chain[-1][0]]:
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
    prev_shape = g.shapes[inp]
    for lif, syn, rec in chain:
        neuron = _neuron(g, lif, syn is None, why)
        shape = g.shapes[lif]
        if syn is None:  # the graded input's own LIF: netx's input layer with a neuron
            first.update(neuron=neuron["neuron"],
                         **{k: transform.get(k) for k in ("weight", "bias")})
            prev_shape = shape
            continue
        op = g.nodes[syn]
        data: dict[str, Any] = {"shape": np.array(shape, np.int64), "bias": neuron["bias"]}
        if isinstance(op, hw.Conv):
            data.update(weight=np.asarray(op.weight, np.int64), stride=np.array(op.stride),
                        padding=np.array(op.padding), dilation=np.array(op.dilation),
                        groups=int(op.groups))
            kind = "conv"
        else:
            mats = [_file_weights(syn, op, why)]
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
        prev_shape = shape
    if why:
        return why
    group = h5file.create_group("layer")
    for i, (kind, data) in enumerate([("input", first), *layers]):
        _layer(group, i, kind, data)
    return []
