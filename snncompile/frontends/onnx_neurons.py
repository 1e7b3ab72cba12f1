"""Neuron rules of the stepwise ONNX reader (onnx_step): a comparison [m - threshold > 0] of a
membrane polynomial m that keeps one state input is a neuron; the graph output equal to that
neuron's next membrane is its state update, and says how it resets (docs/semantics.md).

    immediate:  m = beta s + I;  next state m - threshold spk (subtract) or m (1 - spk) (zero)
    next_step:  m = beta s + I - threshold r (subtract) or beta (1 - r) s + I (zero), with
                r = [s - threshold > 0] the spike the state held; next state m
beta = 1 everywhere is IF; beta in [0, 1) is LIF with tau = dt / (1 - beta), r = tau / dt.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from snncompile.errors import ModelLoadError
from snncompile.frontends.onnx_ann import OnnxNode
from snncompile.frontends.onnx_poly import Poly, is_one
from snncompile.ir import nn_ops as nn

LIF_FORMS = ("mem = beta * mem + I; spk = mem > threshold; then mem - spk * threshold or "
             "mem * (1 - spk), or snnTorch Leaky's delayed reset")


@dataclasses.dataclass
class _Neuron:
    """A recognised neuron: its state input, membrane polynomial, decay and threshold."""

    state: str
    membrane: Poly
    beta: np.ndarray
    threshold: np.ndarray
    timing: str
    reset: str | None  # None until the state output says (immediate timing)
    where: str


class NeuronRules:
    """Mixed into StepReader: its values, states and nodes are read here."""

    neurons: dict[str, _Neuron]
    held: dict[str, np.ndarray]
    spikes: list[tuple[Poly, Poly]]
    states: dict[str, tuple[int, ...]]
    polys: dict[str, Poly]
    tensors: dict[str, Any]
    nodes: dict[str, Any]
    producer: dict[str, str]
    fed_back: dict[str, str]
    spike_output: str
    binary: Any
    materialize: Any
    add_node: Any
    value: Any
    shapes: dict[str, tuple[int, ...]]
    g: Any
    path: Any

    def spike(self, n: OnnxNode, cond: Poly) -> Poly:
        """The 0/1 tensor [cond > 0]: a held spike, a neuron's new spike, or a spike re-read."""
        for seen, spike in self.spikes:
            if seen.equals(cond):
                return spike
        spike = self.new_spike(n, cond)
        self.spikes.append((cond, spike))
        return spike

    def new_spike(self, n: OnnxNode, cond: Poly) -> Poly:
        threshold, m = -cond.constant(), cond.without_constant()
        held = sorted({a[1] for a in m.atoms() if a[0] == "s"})
        (atom, c), = m.terms.items() if len(m.terms) == 1 else ((None, None),)
        if atom is not None and len(atom) == 1 and self.binary(atom[0]) and is_one(c) \
                and np.all((threshold >= 0) & (threshold < 1)):
            return m  # [spike > c] with 0 <= c < 1 is the spike itself (torch.where(spk > 0))
        if len(held) != 1:
            raise n.refuse(f"it compares a value that keeps {len(held)} state inputs; a spike is "
                           f"read from one membrane ({LIF_FORMS})")
        s = held[0]
        if m.equals(Poly.atom(("s", s), self.states[s])):
            self.held[s] = threshold  # r = [s > threshold]: the spike s carried (next_step)
            return Poly.atom(("r", s), self.states[s])
        if s in {x.state for x in self.neurons.values()}:
            raise n.refuse(f"the state input {s!r} already has a neuron; a second threshold of "
                           "it has no IR form")
        neuron = self.membrane(n, s, m, threshold)
        name = self.neuron_node(n, neuron)
        self.neurons[name] = neuron
        return Poly.atom(("n", name), self.states[s])

    def membrane(self, n: OnnxNode, s: str, m: Poly, threshold: np.ndarray) -> _Neuron:
        terms = dict(m.terms)
        beta = terms.pop((("s", s),), None)
        if beta is None:
            raise n.refuse(f"its membrane does not keep the state input {s!r} ({LIF_FORMS})")
        subtract = terms.pop((("r", s),), None)
        zero = terms.pop(tuple(sorted((("r", s), ("s", s)))), None)
        timing, reset = "immediate", None
        if subtract is not None or zero is not None:
            timing = "next_step"
            if s not in self.held or not np.array_equal(*np.broadcast_arrays(self.held[s],
                                                                             threshold)):
                raise n.refuse(f"the reset of {s!r} uses a spike of another threshold")
            if zero is None and np.array_equal(*np.broadcast_arrays(subtract, -threshold)):
                reset = "subtract"
            elif subtract is None and np.array_equal(*np.broadcast_arrays(zero, -beta)):
                reset = "zero"
            else:
                raise n.refuse(f"the delayed reset of {s!r} is neither a subtraction of the "
                               "threshold nor a reset to zero")
        bad = [a[1] for mono in terms for a in mono if a[0] in ("s", "r")]
        if bad:
            raise n.refuse(f"the membrane of {s!r} also reads the state {bad[0]!r} "
                           f"({LIF_FORMS})")
        beta = np.broadcast_to(beta, self.states[s])
        if np.any(beta < 0) or np.any(beta > 1) or (np.any(beta == 1) and not np.all(beta == 1)):
            raise n.refuse(f"the decay of {s!r} is {beta.min():g}..{beta.max():g}; it must be in "
                           "[0, 1), or 1 in every neuron (IF)")
        current = Poly(terms, m.shape)
        return _Neuron(s, current, beta, threshold, timing, reset, n.label)

    def neuron_node(self, n: OnnxNode, neuron: _Neuron) -> str:
        shape = self.states[neuron.state]
        sources = self.materialize(n, neuron.membrane) if neuron.membrane.terms else ()
        if not sources:
            raise n.refuse(f"the membrane of {neuron.state!r} has no input")
        if any(self.shapes[x] != shape for x in sources):
            raise n.refuse(f"the input of {neuron.state!r} has shape "
                           f"{self.shapes[sources[0]]}, its state {shape}")
        sources = tuple(self.add_node(f"{x}.to.{neuron.state}", nn.Scale(scale=np.ones(shape)),
                                      (x,), shape) if self.nodes[x].kind == "neuron" else x
                        for x in sources)
        return self.add_node(neuron.state, _neuron_op(neuron, shape, "zero"), sources, shape)

    def finish(self) -> str:
        """Pair each state with the output that is its update; the one output left is the spikes
        (its nn node returned)."""
        left = []
        for out in self.g.output:
            if out.name not in self.polys and out.name not in self.tensors:
                raise ModelLoadError(f"{self.path}: the graph output {out.name!r} is not computed "
                                     "from the inputs by supported nodes")
            value = self.value(OnnxNode(self.path, _Out(out.name), 0), 0)
            found = [k for k, x in self.neurons.items() if self.updates(x, k, value)]
            if not found:
                left.append(out.name)
            else:
                self.fed_back[self.neurons[found[0]].state] = out.name
        for name, x in self.neurons.items():
            if x.reset is None:
                readers = [o.name for o in self.g.output if isinstance(
                    self.polys.get(o.name), Poly) and ("s", x.state) in self.polys[o.name].atoms()]
                raise ModelLoadError(
                    f"{self.path}: no graph output is the update of state {x.state!r} (its "
                    f"neuron fires at {x.where}): {_outputs(self, readers)} computes something "
                    f"else; read are {LIF_FORMS} (a neuron without reset has no IR form)")
            self.nodes[name] = _neuron_op(x, self.states[x.state], x.reset)
        unused = sorted(set(self.states) - {x.state for x in self.neurons.values()})
        if unused:
            raise ModelLoadError(f"{self.path}: the state input {unused[0]!r} is not the membrane "
                                 f"of a neuron ({LIF_FORMS})")
        if len(left) != 1:
            raise ModelLoadError(f"{self.path}: {len(left)} outputs are not state updates "
                                 f"({', '.join(map(repr, left))}); exactly one, the spikes, is "
                                 "supported")
        self.spike_output = left[0]
        n = OnnxNode(self.path, _Out(left[0], self.producer.get(left[0], "")), 0)
        value = self.value(n, 0)
        if any(a[0] in ("s", "r") for a in value.atoms() if isinstance(value, Poly)):
            raise ModelLoadError(f"{self.path}: the output {left[0]!r} "
                                 f"({self.producer.get(left[0], '?')}) is a membrane, not "
                                 "spikes, and no state input is updated by it")
        if left[0] in self.polys:
            return self.materialize(n, self.polys[left[0]], single=True)[0]
        sources = self.tensors[left[0]][0]
        if len(sources) != 1 or self.nodes[sources[0]].kind != "neuron":
            raise ModelLoadError(f"{self.path}: the output {left[0]!r} is not one spiking "
                                 "layer's spikes")
        return sources[0]

    def updates(self, x: _Neuron, name: str, value: Poly) -> bool:
        """Whether `value` is neuron `x`'s next state (and so its reset)."""
        if not isinstance(value, Poly):
            return False
        m = x.membrane + Poly.atom(("s", x.state), x.membrane.shape).times(
            Poly.const(x.beta, x.membrane.shape), self.binary)
        if x.timing == "next_step":
            m = m + self.held_terms(x)
            return value.equals(m)
        spk = Poly.atom(("n", name), m.shape)
        forms = {"subtract": m - spk.times(Poly.const(x.threshold, m.shape), self.binary),
                 "zero": m - m.times(spk, self.binary)}
        for reset, form in forms.items():
            if value.equals(form) and x.reset in (None, reset):
                x.reset = reset
                return True
        return False

    def held_terms(self, x: _Neuron) -> Poly:
        r, s = Poly.atom(("r", x.state), x.membrane.shape), Poly.atom(("s", x.state), ())
        if x.reset == "subtract":
            return -r.times(Poly.const(x.threshold, r.shape), self.binary)
        return -(r.times(s, self.binary)).times(Poly.const(x.beta, r.shape), self.binary)


class _Out:
    """A graph output posing as a node (for value lookups and error labels)."""

    def __init__(self, name: str, label: str = ""):
        self.input, self.name, self.op_type, self.attribute = [name], label or name, "output", []
        self.output = []


def _outputs(reader: NeuronRules, names: list[str]) -> str:
    return ", ".join(f"output {o!r} ({reader.producer.get(o, '?')})" for o in names) or "none"


def threshold_neuron(shape: tuple[int, ...], threshold: float) -> nn.LIF:
    """A memoryless threshold neuron (v = x, s = v > threshold), as torch_blocks'."""
    ones = np.ones(shape)
    return nn.LIF(tau=ones, r=ones, v_leak=0 * ones, v_threshold=threshold * ones,
                  v_reset=0 * ones, reset="zero", reset_timing="immediate")


def _neuron_op(x: _Neuron, shape: tuple[int, ...], reset: str) -> nn.NNOp:
    thr = np.broadcast_to(x.threshold, shape).astype(np.float64)
    common = {"v_threshold": thr.copy(), "v_reset": np.zeros(shape), "reset": reset,
              "reset_timing": x.timing}
    if np.all(x.beta == 1):
        return nn.IF(r=np.ones(shape), **common)
    tau = 1.0 / (1.0 - np.asarray(x.beta, dtype=np.float64))
    return nn.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(shape), **common)
