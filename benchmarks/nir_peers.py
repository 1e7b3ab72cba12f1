"""Float32 contenders for the NIR-paper CNN and the braille RNN, built by hand in plain torch,
snnTorch and Norse from the NIR file's own weights (read with `nir.read`, not our front end).

The frameworks' own NIR importers do not run these nets at every batch: snnTorch 1.0.0's import
of the CNN hands its conv a (tensor, state) tuple, and of the RNN fails ('GraphModule' object has
no attribute 'items'); Norse 1.1.0's runs the CNN at batch 1 only (its flatten folds the batch
into the features). So each net is written here with each framework's ordinary modules, the way
a user of that framework would write it, and one float32 step loop per framework.

The neuron equations are the float reference's (`sim/reference.py`, the NIR semantics at the
graph's dt): IF v = v + r x; CubaLIF i = a_syn i + b_syn x, v = a_mem v + b_mem i; spike if
v > v_threshold, then v = v_reset (immediate reset to zero: the NIR files carry no reset mode, and
the front end reads them so). The constant factors r, b_syn, b_mem are folded into the synapse
weights (a linear rescaling of i that leaves v unchanged), since snnTorch's and Norse's neurons
take their input current unscaled. `agreement` compares each contender's output spikes with the
reference's on a few samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snncompile import api
from snncompile.sim.reference import run_reference


def _scalar(node, field: str) -> float:
    """A per-neuron NIR parameter that must be one value (the contenders fold it into weights)."""
    values = np.unique(np.asarray(getattr(node, field), np.float64))
    if len(values) != 1:
        raise ValueError(f"NIR node {type(node).__name__}.{field} varies per neuron; the "
                         "hand-built contenders fold it into the weights as one factor")
    return float(values[0])


def _t(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a, np.float64), dtype=torch.float32)


def _over_time(step, x: torch.Tensor, state) -> torch.Tensor:
    """Every contender's loop: y_t, state = step(t, x[t], state) over x's first (time) axis, the
    outputs stacked (T, B, ...)."""
    out = []
    for t in range(len(x)):
        y, state = step(t, x[t], state)
        out.append(y)
    return torch.stack(out)


def _loaded(module: torch.nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> torch.nn.Module:
    """A torch Conv2d / Linear holding the given weight and bias (copies)."""
    module.weight.data, module.bias.data = weight.clone(), bias.clone()
    return module


def _chain(graph) -> list:
    """The nodes from the input to the output in order (a feed-forward NIR graph)."""
    nxt = dict(graph.edges)
    name, out = nxt["input"], []
    while name != "output":
        out.append(graph.nodes[name])
        name = nxt[name]
    return out


# -- the CNN -------------------------------------------------------------------------------------
def _cnn_layers(path: Path) -> list[tuple]:
    """(kind, params) per NIR node: conv/affine weights already multiplied by the next IF's r."""
    import nir

    nodes = _chain(nir.read(str(path)))
    layers: list[tuple] = []
    for k, node in enumerate(nodes):
        kind = type(node).__name__
        after = next((n for n in nodes[k + 1:] if type(n).__name__ == "IF"), None)
        r = _scalar(after, "r") if after is not None else 1.0
        if kind == "Conv2d":
            layers.append(("conv", _t(node.weight * r), _t(node.bias * r),
                           {"stride": tuple(int(s) for s in node.stride),
                            "padding": tuple(int(p) for p in node.padding),
                            "dilation": tuple(int(d) for d in node.dilation),
                            "groups": int(node.groups)}))
        elif kind == "Affine":
            layers.append(("affine", _t(node.weight * r), _t(node.bias * r)))
        elif kind == "SumPool2d":
            layers.append(("pool", tuple(int(s) for s in node.kernel_size),
                           tuple(int(s) for s in node.stride),
                           tuple(int(s) for s in node.padding)))
        elif kind == "Flatten":
            layers.append(("flatten",))
        elif kind == "IF":
            layers.append(("if", _scalar(node, "v_threshold"), _scalar(node, "v_reset")))
        else:
            raise ValueError(f"{path.name}: node type {kind} is not in the hand-built CNN")
    return layers


def cnn_peers(path: Path) -> dict:
    """The CNN as a plain torch step loop, snnTorch (nn.Conv2d/Linear + Leaky) and Norse
    (SequentialState of torch modules + IAFCell); each maps x (T, B, C, H, W) to output spikes
    (T, B, n_out)."""
    import norse.torch as norse
    import snntorch as snn

    layers = _cnn_layers(path)

    def plain(t, h, v: dict[int, torch.Tensor]):
        for k, layer in enumerate(layers):
            kind = layer[0]
            if kind == "conv":
                h = F.conv2d(h, layer[1], layer[2], **layer[3])
            elif kind == "affine":
                h = F.linear(h, layer[1], layer[2])
            elif kind == "pool":
                h = F.avg_pool2d(h, *layer[1:], divisor_override=1)
            elif kind == "flatten":
                h = h.flatten(1)
            else:
                vk = v[k] + h if k in v else h
                s = vk > layer[1]
                v[k] = torch.where(s, layer[2], vk)
                h = s.float()
        return h, v

    def modules(neuron):
        mods = []
        for layer in layers:
            kind = layer[0]
            if kind == "conv":
                m = torch.nn.Conv2d(layer[1].shape[1] * layer[3]["groups"], layer[1].shape[0],
                                    tuple(layer[1].shape[2:]), **layer[3])
            elif kind == "affine":
                m = torch.nn.Linear(layer[1].shape[1], layer[1].shape[0])
            elif kind == "pool":
                m = torch.nn.AvgPool2d(*layer[1:], divisor_override=1)
            elif kind == "flatten":
                m = torch.nn.Flatten()
            else:
                m = neuron(*layer[1:])
            mods.append(_loaded(m, layer[1], layer[2]) if kind in ("conv", "affine") else m)
        return mods

    leaky = modules(lambda thr, reset: snn.Leaky(beta=1.0, threshold=thr, reset_delay=False,
                                                 reset_mechanism="zero"))

    def snntorch_step(t, h, mems: dict[int, torch.Tensor]):
        for k, m in enumerate(leaky):
            if isinstance(m, snn.Leaky):
                if k not in mems:
                    mems[k] = m.init_leaky()
                h, mems[k] = m(h, mems[k])
            else:
                h = m(h)
        return h, mems

    seq = norse.SequentialState(*modules(
        lambda thr, reset: norse.IAFCell(p=norse.IAFParameters(v_th=torch.tensor(thr),
                                                               v_reset=torch.tensor(reset)))))

    return {"snnTorch": lambda x: _over_time(snntorch_step, x, {}),
            "Norse": lambda x: _over_time(lambda t, h, state: seq(h, state), x, None),
            "plain torch": lambda x: _over_time(plain, x, {})}


# -- the RNN -------------------------------------------------------------------------------------
def _rnn_parts(path: Path, dt: float) -> dict:
    """fc1 -> CubaLIF (+ w_rec of its last spikes) -> fc2 -> CubaLIF; each synapse's weight and
    bias times its neuron's b_syn * b_mem; the neurons' decays a_syn, a_mem and threshold."""
    import nir

    g = nir.read(str(path))
    nxt: dict[str, list[str]] = {}
    for a, b in g.edges:
        nxt.setdefault(a, []).append(b)
    (fc1,) = nxt["input"]
    (lif1,) = nxt[fc1]
    rec = next(n for n in nxt[lif1] if lif1 in nxt.get(n, []))
    fc2 = next(n for n in nxt[lif1] if n != rec)
    (lif2,) = nxt[fc2]
    parts: dict = {}
    for key, syn, neuron in (("fc1", fc1, lif1), ("rec", rec, lif1), ("fc2", fc2, lif2)):
        n = g.nodes[neuron]
        for field in ("v_leak", "v_reset"):
            if _scalar(n, field) != 0.0:
                raise ValueError(f"{path.name}: {neuron}.{field} is not 0")
        ks, km = dt / _scalar(n, "tau_syn"), dt / _scalar(n, "tau_mem")
        scale = ks * _scalar(n, "w_in") * km * _scalar(n, "r")
        parts[key] = (_t(g.nodes[syn].weight * scale), _t(g.nodes[syn].bias * scale))
        parts[key[-1] if key != "rec" else "rec_n"] = (1 - ks, 1 - km, _scalar(n, "v_threshold"),
                                                        ks, km)
    return parts


def rnn_peers(path: Path, dt: float) -> dict:
    """The braille RNN as a plain torch step loop, snnTorch (nn.Linear + Synaptic)
    and Norse (nn.Linear + LIFCell, the recurrent linear of the last spikes added by hand: Norse's
    LIFRecurrentCell has no bias); each maps x (T, B, 12) to output spikes (T, B, 7). The
    recurrent synapse sends nothing at the first step, bias included, as the reference's
    recurrent edge (the previous step's output of w_rec, zeros at t = 1)."""
    import norse.torch as norse
    import snntorch as snn

    p = _rnn_parts(path, dt)
    (w1, b1), (wr, br), (w2, b2) = p["fc1"], p["rec"], p["fc2"]
    n1, n2 = p["1"], p["2"]

    def plain_step(t, h, state):
        i1, v1, s1, i2, v2 = state
        i1 = n1[0] * i1 + F.linear(h, w1, b1) + (F.linear(s1, wr, br) if t else 0)
        v1 = n1[1] * v1 + i1
        s1 = (v1 > n1[2]).float()
        v1 = v1 * (1 - s1)
        i2 = n2[0] * i2 + F.linear(s1, w2, b2)
        v2 = n2[1] * v2 + i2
        s2 = (v2 > n2[2]).float()
        v2 = v2 * (1 - s2)
        return s2, (i1, v1, s1, i2, v2)

    def plain(x):
        z1, z2 = torch.zeros(x.shape[1], w1.shape[0]), torch.zeros(x.shape[1], w2.shape[0])
        return _over_time(plain_step, x, (z1, z1, z1, z2, z2))

    def linear(w, b):
        return _loaded(torch.nn.Linear(w.shape[1], w.shape[0]), w, b)

    fc1, rec, fc2 = linear(w1, b1), linear(wr, br), linear(w2, b2)
    # snnTorch 1.0.0's RSynaptic never resets with reset_delay=False (its forward assigns the
    # reset to a local), so the recurrence is an nn.Linear of the last spikes, as for Norse
    lif1, lif2 = (snn.Synaptic(alpha=n[0], beta=n[1], threshold=n[2], reset_mechanism="zero",
                               reset_delay=False) for n in (n1, n2))

    def snntorch_step(t, h, state):
        spk1, syn1, mem1, syn2, mem2 = state
        spk1, syn1, mem1 = lif1(fc1(h) + (rec(spk1) if t else 0), syn1, mem1)
        spk2, syn2, mem2 = lif2(fc2(spk1), syn2, mem2)
        return spk2, (spk1, syn1, mem1, syn2, mem2)

    def snntorch_run(x):
        return _over_time(snntorch_step, x, (torch.zeros(x.shape[1], w1.shape[0]),
                                             *lif1.init_synaptic(), *lif2.init_synaptic()))

    def norse_cell(n):  # Norse: i += x; v += dt/tau_mem (-v + i); i -= dt/tau_syn i
        params = norse.LIFParameters(tau_syn_inv=torch.tensor(n[3] / dt),
                                     tau_mem_inv=torch.tensor(n[4] / dt),
                                     v_th=torch.tensor(n[2]), v_leak=torch.tensor(0.0),
                                     v_reset=torch.tensor(0.0))
        return norse.LIFCell(p=params, dt=dt)

    # Norse's current enters v times dt/tau_mem: undo the b_mem folded into the weights
    nfc1, nrec, nfc2 = (linear(w / n[4], b / n[4]) for (w, b), n in
                        ((p["fc1"], n1), (p["rec"], n1), (p["fc2"], n2)))
    cell1, cell2 = norse_cell(n1), norse_cell(n2)

    def norse_step(t, h, state):
        s1, st1, st2 = state
        s1, st1 = cell1(nfc1(h) + (nrec(s1) if t else 0), st1)
        s2, st2 = cell2(nfc2(s1), st2)
        return s2, (s1, st1, st2)

    def norse_run(x):
        return _over_time(norse_step, x, (torch.zeros(x.shape[1], w1.shape[0]), None, None))

    return {"snnTorch": snntorch_run, "Norse": norse_run, "plain torch": plain}


def mismatches(path: Path, peers: dict, rng, batch: int = 4, steps: int = 60) -> dict:
    """Each contender's output spikes vs the float reference's (float32, our nn graph of the
    same file) on `batch` random samples: name -> (entries that differ, reference spikes)."""
    graph = api.load(path)
    x = (rng.random((batch, steps, *graph.shapes["input"])) < 0.2).astype(np.float32)
    ref = run_reference(graph, x, dtype=np.float32)[graph.outputs[0]]
    xt = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1)))
    out = {}
    with torch.no_grad():
        for name, fn in peers.items():
            got = np.swapaxes(fn(xt).numpy(), 0, 1).reshape(ref.shape)
            out[name] = (int((got != ref).sum()), int(ref.sum()))
    return out


def agreement(path: Path, peers: dict, rng) -> str:
    """`mismatches` as one line for the benchmark's report."""
    return ", ".join(f"{name} {bad} of {total} spikes differ"
                     for name, (bad, total) in mismatches(path, peers, rng).items())
