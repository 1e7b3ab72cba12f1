"""The float reference interpreter: the executable meaning of nn graphs, vectorized over the batch.

Every op type has one rule in `RULES` (prepare its constants once, then step it once per time
step); graphs are evaluated node by node in `graph.schedule` order, and a recurrent edge delivers
its source's output of the previous step (zeros at t = 1).

Neuron arithmetic, written so a framework's own float32 update is reproduced op for op:

    LIF      v = (a_leak * v + c_leak) + b * x      a_leak = 1 - dt/tau, c_leak = dt/tau * v_leak,
                                                     b = dt/tau * r
    CubaLIF  i = a_syn * i + b_syn * x;  v = (a_leak * v + c_leak) + b * i
    IF       v = v + r * x

then s = v > v_threshold and the reset. "immediate": zero sets v = v_reset where s, subtract
does v -= v_threshold * s. "next_step" (snnTorch's reset_delay=True) applies the previous step's
spike instead, after the leak: zero replaces the leaked v by v_reset (LIF, IF: then the input is
added, as snnTorch Leaky's beta*(1-reset)*mem + x); for CubaLIF zero replaces the whole new v
(snnTorch Synaptic: mem = (1-reset)*(beta*mem + syn)); subtract does v -= v_threshold * s[t-1]
last ((beta*mem + x) - reset*thr). A neuron's state "v" is its potential carried to the next step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from snncompile.errors import InputError, UnsupportedOp
from snncompile.ir import nn_ops
from snncompile.ir.graph import Graph
from snncompile.progress import staged
from snncompile.sim.adaptive_reference import STATE as ADAPTIVE_STATE
from snncompile.sim.adaptive_reference import prepare_adaptive, step_adaptive


class Rule(NamedTuple):
    """How the reference runs one op type: constants once, then one call per time step."""

    prepare: Callable[[Any, float, Any], dict]  # (op, dt, dtype) -> constants
    step: Callable[[dict, np.ndarray, dict], np.ndarray]  # (constants, x, state) -> output


def _arr(value: Any, dtype: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).astype(dtype)


def _op_only(op: Any, dt: float, dtype: Any) -> dict:
    return {"op": op}


def _torch(x: np.ndarray) -> Any:
    """x as a torch tensor (torch is imported on first use: compiling a dense net never needs
    it, and importing it costs a second or two)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


def _functional() -> Any:
    import torch.nn.functional

    return torch.nn.functional


# -- synapses -------------------------------------------------------------------------------------
def _prep_dense(op: Any, dt: float, dtype: Any) -> dict:
    bias = getattr(op, "bias", None)
    return {"wt": _arr(op.weight, dtype).T.copy(), "b": None if bias is None else _arr(bias, dtype)}


def _step_dense(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    y = x.reshape(x.shape[0], -1) @ c["wt"]
    return y if c["b"] is None else y + c["b"]


def _prep_sparse(op: Any, dt: float, dtype: Any) -> dict:
    """SparseLinear: its CSR matrix as scipy holds it (never made dense)."""
    import scipy.sparse as sp

    w = sp.csr_array((_arr(op.weight, dtype), op.indices, op.indptr), shape=op.matrix_shape)
    return {"w": w, "b": None if op.bias is None else _arr(op.bias, dtype)}


def _step_sparse(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    y = np.asarray(c["w"] @ x.reshape(x.shape[0], -1).T).T
    return y if c["b"] is None else y + c["b"]


def _prep_delay(op: Any, dt: float, dtype: Any) -> dict:
    w, d = _arr(op.weight, dtype), np.asarray(op.delay)
    groups = [(int(k), np.where(d == k, w, 0).T.copy()) for k in np.unique(d)]
    return {"groups": groups, "b": None if op.bias is None else _arr(op.bias, dtype)}


def _step_delay(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    """Keeps the last max(delay) + 1 inputs (newest first); the group with delay k reads entry k."""
    flat = x.reshape(x.shape[0], -1)
    history = state.setdefault("history", [])
    history.insert(0, flat)
    del history[c["groups"][-1][0] + 1 if c["groups"] else 1:]
    y = np.zeros((x.shape[0], c["groups"][0][1].shape[1] if c["groups"] else 0), x.dtype)
    for k, wt in c["groups"]:
        if k < len(history):
            y = y + history[k] @ wt
    return y if c["b"] is None else y + c["b"]


def _prep_conv(op: Any, dt: float, dtype: Any) -> dict:
    return {"w": _torch(_arr(op.weight, dtype)), "b": _torch(_arr(op.bias, dtype)), "op": op}


def _step_conv(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    op = c["op"]
    y = _functional().conv2d(_torch(x), c["w"], c["b"], tuple(op.stride), tuple(op.padding),
                 tuple(op.dilation), int(op.groups))
    return y.numpy()


def _step_conv1d(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    op = c["op"]
    y = _functional().conv1d(_torch(x), c["w"], c["b"], int(op.stride), int(op.padding),
                             int(op.dilation), int(op.groups))
    return y.numpy()


def _step_pool(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    op = c["op"]
    total = type(op) is nn_ops.SumPool2d
    y = _functional().avg_pool2d(_torch(x), tuple(op.kernel_size), tuple(op.stride),
                                 tuple(op.padding), count_include_pad=True,
                                 divisor_override=1 if total else None)
    return y.numpy()


def _step_flatten(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    return x.reshape((x.shape[0],) + tuple(c["op"].output_shape(x.shape[1:])))


def _prep_scale(op: Any, dt: float, dtype: Any) -> dict:
    return {"scale": _arr(op.scale, dtype)}


def _identity(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    return x


# -- neurons --------------------------------------------------------------------------------------
def _prep_neuron(op: Any, dtype: Any, **coefficients: Any) -> dict:
    c = {k: _arr(v, dtype) for k, v in coefficients.items()}
    c.update(thr=_arr(op.v_threshold, dtype), v_reset=_arr(op.v_reset, dtype),
             reset=op.reset, timing=op.reset_timing, kind=type(op).__name__)
    return c


def _prep_if(op: Any, dt: float, dtype: Any) -> dict:
    return _prep_neuron(op, dtype, r=op.r)


def _prep_lif(op: Any, dt: float, dtype: Any) -> dict:
    k = dt / np.asarray(op.tau, dtype=np.float64)
    return _prep_neuron(op, dtype, a=1.0 - k, c=k * op.v_leak, b=k * op.r)


def _prep_cuba(op: Any, dt: float, dtype: Any) -> dict:
    ks = dt / np.asarray(op.tau_syn, dtype=np.float64)
    km = dt / np.asarray(op.tau_mem, dtype=np.float64)
    return _prep_neuron(op, dtype, a_syn=1.0 - ks, b_syn=ks * op.w_in,
                        a=1.0 - km, c=km * op.v_leak, b=km * op.r)


def _step_neuron(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    v = state.get("v")
    if v is None:
        v = np.zeros(np.broadcast_shapes(x.shape, c["thr"].shape), x.dtype)
        state["v"], state["s"] = v, np.zeros(v.shape, bool)
    later = c["timing"] == "next_step"
    prev = state["s"]
    kind = c["kind"]
    if kind == "IF":
        leaked, drive = v, c["r"] * x
    else:
        if kind == "CubaLIF":
            i = state["i"] = c["a_syn"] * state.get("i", 0.0) + c["b_syn"] * x
            drive = c["b"] * i
        else:
            drive = c["b"] * x
        leaked = c["a"] * v + c["c"]
    if later and c["reset"] == "zero":
        if kind == "CubaLIF":
            v = np.where(prev, c["v_reset"], leaked + drive)
        else:
            v = np.where(prev, c["v_reset"], leaked) + drive
    else:
        v = leaked + drive
        if later:
            v = v - c["thr"] * prev
    s = v > c["thr"]
    if not later:
        v = np.where(s, c["v_reset"], v) if c["reset"] == "zero" else v - c["thr"] * s
    state["v"], state["s"] = v, s
    return s.astype(x.dtype)


RULES: dict[type, Rule] = {
    nn_ops.Input: Rule(_op_only, _identity),
    nn_ops.Output: Rule(_op_only, _identity),
    nn_ops.Affine: Rule(_prep_dense, _step_dense),
    nn_ops.Linear: Rule(_prep_dense, _step_dense),
    nn_ops.SparseLinear: Rule(_prep_sparse, _step_sparse),
    nn_ops.DelayLinear: Rule(_prep_delay, _step_delay),
    nn_ops.Scale: Rule(_prep_scale, lambda c, x, s: x * c["scale"]),
    nn_ops.Conv1d: Rule(_prep_conv, _step_conv1d),
    nn_ops.Conv2d: Rule(_prep_conv, _step_conv),
    nn_ops.SumPool2d: Rule(_op_only, _step_pool),
    nn_ops.AvgPool2d: Rule(_op_only, _step_pool),
    nn_ops.Flatten: Rule(_op_only, _step_flatten),
    nn_ops.Unflatten: Rule(_op_only, lambda c, x, s: x.reshape((x.shape[0], *c["op"].shape))),
    nn_ops.IF: Rule(_prep_if, _step_neuron),
    nn_ops.LIF: Rule(_prep_lif, _step_neuron),
    nn_ops.CubaLIF: Rule(_prep_cuba, _step_neuron),
    nn_ops.AdaptiveLIF: Rule(prepare_adaptive, step_adaptive),
}


def _inputs(graph: Graph, x: np.ndarray | dict[str, np.ndarray],
            dtype: Any) -> dict[str, np.ndarray]:
    names = graph.inputs
    if not isinstance(x, dict):
        if len(names) != 1:
            raise InputError(f"the graph has inputs {names}; pass a dict name -> array")
        x = {names[0]: x}
    arrays, steps = {}, set()
    for name in names:
        if name not in x:
            raise InputError(f"no array given for input node {name!r}")
        arr = np.asarray(x[name], dtype=dtype)
        want = graph.shapes[name]
        if arr.ndim != len(want) + 2 or tuple(arr.shape[2:]) != tuple(want):
            raise InputError(f"input {name!r} has shape {arr.shape}; expected (batch, time, "
                             f"{', '.join(map(str, want))})")
        arrays[name] = arr
        steps.add(arr.shape[:2])
    if len(steps) != 1:
        raise InputError(f"inputs disagree on (batch, time): {sorted(steps)}")
    return arrays


@staged("float reference")
def run_reference(
    graph: Graph,
    x: np.ndarray | dict[str, np.ndarray],
    record: bool = False,
    dtype: Any = np.float64,
    state: bool = False,
) -> dict[str, np.ndarray]:
    """Run an nn graph on x (batch, time, *input_shape) and return arrays (batch, time, *shape).

    The result holds the output nodes; with `record`, every node's per-step output too; with
    `state`, also each neuron's potential carried to the next step as "<name>:v" (and the
    synaptic current of CubaLIF as "<name>:i"; AdaptiveLIF adds ":i", ":theta" and ":q").
    """
    for name, op in graph.nodes.items():
        if type(op) not in RULES:
            raise UnsupportedOp(op, "reference interpreter", f"node {name!r}")
    arrays = _inputs(graph, x, dtype)
    batch, steps = next(iter(arrays.values())).shape[:2]
    shapes = graph.shapes
    consts = {n: RULES[type(op)].prepare(op, float(graph.dt), dtype)
              for n, op in graph.nodes.items()}
    states: dict[str, dict] = {n: {} for n in graph.nodes}
    keep = set(graph.nodes) if record else set(graph.outputs)
    traces: dict[str, list[np.ndarray]] = {n: [] for n in keep}
    neurons = graph.of_kind("neuron") if state else []
    for n in neurons:
        traces[f"{n}:v"] = []
        if type(graph.nodes[n]) is nn_ops.CubaLIF:
            traces[f"{n}:i"] = []
        if type(graph.nodes[n]) is nn_ops.AdaptiveLIF:
            traces.update({f"{n}:{k}": [] for k in ADAPTIVE_STATE})
    back = graph.recurrent_edges
    preds = {n: [(p, (p, n) in back) for p in graph.predecessors(n)] for n in graph.nodes}
    prev = {n: np.zeros((batch,) + shapes[n], dtype) for n in graph.nodes}
    for t in range(steps):
        now: dict[str, np.ndarray] = {}
        for n in graph.schedule:
            op = graph.nodes[n]
            if op.kind == "input":
                xin = arrays[n][:, t]
            else:
                xin = None
                for p, recurrent in preds[n]:
                    value = prev[p] if recurrent else now[p]
                    xin = value if xin is None else xin + value
            now[n] = RULES[type(op)].step(consts[n], xin, states[n])
        for n in keep:
            traces[n].append(now[n])
        for n in neurons:
            traces[f"{n}:v"].append(states[n]["v"])
            if f"{n}:i" in traces:
                traces[f"{n}:i"].append(np.broadcast_to(states[n]["i"], states[n]["v"].shape))
            for k in ADAPTIVE_STATE[1:]:
                if f"{n}:{k}" in traces:
                    traces[f"{n}:{k}"].append(states[n][k])
        prev = now
    return {k: np.stack(v, axis=1) if v else np.zeros((batch, 0), dtype)
            for k, v in traces.items()}
