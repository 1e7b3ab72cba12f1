"""PyTorch front end: an nn.Sequential of torch, snncompile.nn and snnTorch layers to an nn Graph.

snnTorch layers are mapped from their own code, not through NIR, so their semantics come over
exactly: Leaky(beta) is LIF with tau = dt / (1 - beta), r = tau / dt (Euler then gives
v = beta v + x), reset_mechanism "zero"/"subtract" is the reset, reset_delay=True is
reset_timing "next_step", False "immediate". Synaptic(alpha, beta) is CubaLIF with
tau_syn = dt / (1 - alpha), w_in = tau_syn / dt, tau_mem = dt / (1 - beta), r = tau_mem / dt:
snnTorch updates syn = alpha syn + x first and then mem = beta mem + syn, the IR's order.
A neuron whose beta is 1 everywhere becomes IF. dt only names the step; it does not change
the arithmetic. RLeaky and RSynaptic add their previous step's spikes through `recurrent` to the
input (RLeaky: mem = beta mem + x + rec(spk); RSynaptic: into syn): all_to_all=True is its
nn.Linear (its bias, which snnTorch adds from step 1 on, enters as a forward Affine, since a
recurrent edge carries zeros at step 1), all_to_all=False is `V * spk` (a Scale); conv
recurrence is refused. RLeaky's reset to zero with reset_delay=True clears the whole new mem,
input included, which is the IR's CubaLIF rule, so it maps to CubaLIF with alpha = 0 (syn = x).
Not mapped: Alpha (its membrane is a difference of two traces, refused by name), snnTorch's
other neurons, inhibition, state_quant, graded spikes, reset "none". One snnTorch quirk stays
outside the IR: with
reset_delay=False and subtraction, a potential still above threshold after its reset is tested
against 2 * threshold in the next step (snnTorch's "avoid double reset"); the IR applies the
plain rule, so the two agree while no potential exceeds 2 * threshold.

SpikingJelly and Norse neurons are mapped by snncompile.frontends.spikingjelly and
snncompile.frontends.norse_modules (their docstrings give the rules); their containers
(SeqToANNContainer, SequentialState) are nn.Sequential and their layers nn layers, walked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from snncompile.errors import ModelLoadError, SnnCompileError, UnsupportedOp
from snncompile.frontends import torch_blocks, torch_fx
from snncompile.frontends.arrays import MalformedTensor, csr_of, is_sparse
from snncompile.frontends.arrays import as_float64 as _np
from snncompile.ir import nn_ops
from snncompile.ir.conv_geometry import pair, same_padding
from snncompile.ir.graph import Graph
from snncompile.limits import BudgetError, check_shape
from snncompile.nn import delays, layers
from snncompile.nn.adaptive import AdaptiveLIF

SKIPPED = (nn.Identity, nn.Dropout)
KNOWN = ("Sequential, Linear, Conv1d, Conv2d, Flatten, AvgPool2d, MaxPool2d (on spikes), "
         "BatchNorm1d/2d, Identity, Dropout, any module whose forward torch.fx traces, "
         "snncompile.nn IF/LIF/CubaLIF/RLIF/AdaptiveLIF/DelayedLinear, "
         "snntorch Leaky/Synaptic/RLeaky/RSynaptic, "
         "SpikingJelly LIFNode/ParametricLIFNode/IFNode, Norse LIFCell/LIF/LIFBoxCell")
SNNTORCH = ("Leaky", "Synaptic", "RLeaky", "RSynaptic")  # snnTorch neurons mapped exactly
SNNTORCH_REFUSED = {
    "Alpha": "its membrane is tau_alpha times the sum of an excitatory and an inhibitory trace "
             "(a difference of two exponentials) and its resets rewrite both traces; no "
             "IF/LIF/CubaLIF computes that",
}


class _Builder:
    """Appends ops in a chain from the input, tracking the per-step shape."""

    def __init__(self, input_shape: tuple[int, ...], dt: float, source: str):
        self.nodes: dict[str, nn_ops.NNOp] = {"input": nn_ops.Input(shape=input_shape)}
        self.edges: list[tuple[str, str]] = []
        self.last: str | tuple[str, ...] = "input"  # a node, or several whose outputs are summed
        self.shape, self.dt, self.source = input_shape, dt, source
        self.shapes: dict[str, tuple[int, ...]] = {"input": input_shape}
        self.norms: set[str] = set()  # BatchNorm nodes, folded by torch_blocks.fold_norms

    def fail(self, module: nn.Module, path: str, detail: str) -> UnsupportedOp:
        return UnsupportedOp(module, f"{self.source}: module {path!r}", detail)

    def add(self, name: str, op: nn_ops.NNOp) -> None:
        if name in self.nodes:
            raise UnsupportedOp(op, f"{self.source}: module {name!r}", "it is called twice in "
                                "forward (a shared module); give each use its own module")
        self.nodes[name] = op
        self.edges += [(src, name) for src in (self.last if isinstance(self.last, tuple)
                                               else (self.last,))]
        self.last, self.shape = name, tuple(int(d) for d in op.output_shape(self.shape))
        self.shapes[name] = self.shape

    def full(self, value: Any) -> np.ndarray:
        return np.broadcast_to(_np(value), self.shape).copy()


def _matrix(weight: Any, bias: Any = None) -> nn_ops.NNOp:
    """Linear (Affine with a bias) of a dense weight; a sparse one (a pruned model) stays sparse
    as a SparseLinear, never made dense."""
    if is_sparse(weight):
        shape, indptr, indices, values = csr_of(weight)
        return nn_ops.SparseLinear(shape, indptr, indices, values,
                                   None if bias is None else _np(bias))
    if bias is None:
        return nn_ops.Linear(weight=_np(weight))
    return nn_ops.Affine(weight=_np(weight), bias=_np(bias))


def _linear(b: _Builder, m: nn.Linear, path: str) -> None:
    if len(b.shape) != 1:
        raise b.fail(m, path, f"its input has shape {b.shape}; put a Flatten before it")
    b.add(path, _matrix(m.weight, m.bias))


def _delayed(b: _Builder, m: delays.DelayedLinear, path: str) -> None:
    """snncompile.nn.DelayedLinear as its eval form: the rounded integer delays it deploys."""
    if len(b.shape) != 1:
        raise b.fail(m, path, f"its input has shape {b.shape}; put a Flatten before it")
    b.add(path, nn_ops.DelayLinear(weight=_np(m.weight), delay=_np(m.integer_delays()),
                                   bias=None if m.bias is None else _np(m.bias)))


def _conv(b: _Builder, m: nn.Conv2d, path: str) -> None:
    if len(b.shape) != 3 or m.padding_mode != "zeros":
        raise b.fail(m, path, f"needs a (C, H, W) input and zero padding; input {b.shape}, "
                              f"padding_mode {m.padding_mode!r}")
    padding = m.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        try:
            padding = same_padding(m.kernel_size, m.dilation)
        except ValueError as exc:
            raise b.fail(m, path, str(exc)) from None
    bias = np.zeros(m.out_channels) if m.bias is None else _np(m.bias)
    b.add(path, nn_ops.Conv2d(weight=_np(m.weight), bias=bias, stride=pair(m.stride),
                              padding=pair(padding), dilation=pair(m.dilation),
                              groups=int(m.groups)))


def _conv1d(b: _Builder, m: nn.Conv1d, path: str) -> None:
    if len(b.shape) != 2 or m.padding_mode != "zeros":
        raise b.fail(m, path, f"needs a (C, L) input and zero padding; input {b.shape}, "
                              f"padding_mode {m.padding_mode!r}")
    (k,), (dilation,), (stride,) = m.kernel_size, m.dilation, m.stride
    padding = m.padding
    if padding == "valid":
        padding = (0,)
    elif padding == "same":
        if dilation * (k - 1) % 2:
            raise b.fail(m, path, "padding 'same' with an even kernel pads unevenly")
        padding = (dilation * (k - 1) // 2,)
    bias = np.zeros(m.out_channels) if m.bias is None else _np(m.bias)
    b.add(path, nn_ops.Conv1d(weight=_np(m.weight), bias=bias, stride=int(stride),
                              padding=int(padding[0]), dilation=int(dilation),
                              groups=int(m.groups)))


def _flatten(b: _Builder, m: nn.Flatten, path: str) -> None:
    n = len(b.shape)
    dims = []
    for d in (m.start_dim, m.end_dim):
        if d == 0 or d < -n or d > n:
            raise b.fail(m, path, f"dims ({m.start_dim}, {m.end_dim}) reach the batch dimension")
        dims.append(d - 1 if d > 0 else d)
    b.add(path, nn_ops.Flatten(start_dim=dims[0], end_dim=dims[1]))


def _avgpool(b: _Builder, m: nn.AvgPool2d, path: str) -> None:
    padding = pair(m.padding)
    if m.ceil_mode or m.divisor_override or (not m.count_include_pad and any(padding)):
        raise b.fail(m, path, "ceil_mode, divisor_override and count_include_pad=False with "
                              "padding have no IR form")
    stride = m.kernel_size if m.stride is None else m.stride
    b.add(path, nn_ops.AvgPool2d(kernel_size=pair(m.kernel_size), stride=pair(stride),
                                 padding=padding))


def _decay(b: _Builder, m: nn.Module, path: str, value: Any, name: str) -> tuple[np.ndarray, ...]:
    """(tau, gain) with tau = dt / (1 - value) and gain = tau / dt, from a clamped decay factor."""
    value = np.clip(b.full(value), 0.0, 1.0)
    if np.any(value == 1.0):
        raise b.fail(m, path, f"{name} = 1 (no decay) has no IF/LIF/CubaLIF form here; only a "
                              "LIF whose beta is 1 in every neuron maps (to IF)")
    tau = b.dt / (1.0 - value)
    return tau, tau / b.dt


def _neuron(b: _Builder, m: nn.Module, path: str, *, threshold: Any, reset: str, timing: str,
            beta: Any = None, alpha: Any = None) -> None:
    thr = b.full(threshold)
    common = {"v_threshold": thr, "v_reset": np.zeros_like(thr), "reset": reset,
              "reset_timing": timing}
    if alpha is None and (beta is None or np.all(np.clip(_np(beta), 0, 1) == 1.0)):
        b.add(path, nn_ops.IF(r=np.ones_like(thr), **common))
    elif alpha is None:
        tau, r = _decay(b, m, path, beta, "beta")
        b.add(path, nn_ops.LIF(tau=tau, r=r, v_leak=np.zeros_like(thr), **common))
    else:
        tau_syn, w_in = _decay(b, m, path, alpha, "alpha")
        tau_mem, r = _decay(b, m, path, beta, "beta")
        b.add(path, nn_ops.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, w_in=w_in,
                                   v_leak=np.zeros_like(thr), **common))


def _own(b: _Builder, m: layers._Neuron, path: str) -> None:
    kw = {"threshold": m.threshold, "reset": m.reset, "timing": m.reset_timing}
    if isinstance(m, layers.CubaLIF):
        _neuron(b, m, path, beta=m.beta, alpha=m.alpha, **kw)
    else:
        _neuron(b, m, path, beta=getattr(m, "beta", None), **kw)
    if isinstance(m, layers.RLIF):
        rec = f"{path}.recurrent"
        b.nodes[rec] = _matrix(m.recurrent.weight)
        b.edges += [(path, rec), (rec, path)]


def _snntorch(b: _Builder, m: nn.Module, path: str) -> None:
    kind = type(m).__name__
    if kind in SNNTORCH_REFUSED:
        raise b.fail(m, path, f"snnTorch {kind}: {SNNTORCH_REFUSED[kind]}")
    if kind not in SNNTORCH:
        raise b.fail(m, path, f"snncompile maps snnTorch's {', '.join(SNNTORCH)} only")
    problems = [w for w, bad in (
        ("inhibition", m.inhibition),
        ("state_quant", bool(m.state_quant)),
        ("graded_spikes_factor != 1", bool(np.any(_np(m.graded_spikes_factor) != 1.0))),
        (f"reset_mechanism {m._reset_mechanism!r}", m._reset_mechanism not in nn_ops.RESETS),
    ) if bad]
    if problems:
        raise b.fail(m, path, ", ".join(problems) + " has no IR form")
    delayed = getattr(m, "reset_delay", True)
    if kind == "RSynaptic" and not delayed:
        raise b.fail(m, path, "snnTorch 1.0.0's RSynaptic with reset_delay=False applies its "
                              "immediate reset to its arguments, not its state (and fails with "
                              "init_hidden=True), so its semantics are undefined; use "
                              "reset_delay=True")
    kw = {"threshold": m.threshold, "reset": m._reset_mechanism,
          "timing": "next_step" if delayed else "immediate", "beta": m.beta}
    alpha = m.alpha if kind in ("Synaptic", "RSynaptic") else None
    if kind == "RLeaky" and delayed and m._reset_mechanism == "zero":
        alpha = 0.0  # RLeaky's zero reset also drops this step's input: CubaLIF's rule, syn = x
    recurrent = _snntorch_recurrence(b, m, path) if kind.startswith("R") else None
    _neuron(b, m, path, alpha=alpha, **kw)
    if recurrent is not None:
        rec = f"{path}.recurrent"
        b.nodes[rec] = recurrent
        b.edges += [(path, rec), (rec, path)]


def _snntorch_recurrence(b: _Builder, m: nn.Module, path: str) -> nn_ops.NNOp:
    """The recurrent op of RLeaky/RSynaptic (on the back edge); a Linear bias, which snnTorch adds
    from step 1 on, is added to the forward input here (a back edge carries zeros at step 1)."""
    rec = m.recurrent
    if not m.all_to_all:
        return nn_ops.Scale(scale=b.full(rec.V))
    if not isinstance(rec, nn.Linear):
        raise b.fail(m, path, f"all_to_all recurrence through {type(rec).__name__} has no "
                              "mapping here (only its nn.Linear form)")
    n = rec.in_features
    if b.shape != (n,):
        raise b.fail(m, path, f"its recurrent Linear has {n} features but the layer has shape "
                              f"{b.shape}")
    if rec.bias is not None and np.any(_np(rec.bias) != 0):
        b.add(f"{path}.recurrent_bias", nn_ops.Affine(weight=np.eye(n), bias=_np(rec.bias)))
    return _matrix(rec.weight)


# plain torch.nn layers and their readers (docs/support.md lists these keys)
TORCH_LAYERS = {nn.Linear: _linear, nn.Conv1d: _conv1d, nn.Conv2d: _conv, nn.Flatten: _flatten,
                nn.AvgPool2d: _avgpool, nn.BatchNorm1d: torch_blocks.batchnorm,
                nn.BatchNorm2d: torch_blocks.batchnorm, nn.MaxPool2d: torch_blocks.maxpool}
# modules read as layers; a module from anywhere else is a user's block, traced by torch.fx
LIBRARIES = ("torch.nn.", "snntorch.", "norse.", "snncompile.",
             "spikingjelly.activation_based.neuron", "spikingjelly.activation_based.layer",
             "spikingjelly.activation_based.base")


def _is_block(module: nn.Module) -> bool:
    """A module whose own forward must be traced (not a library layer or a Sequential)."""
    return not isinstance(module, nn.Sequential) and not type(module).__module__.startswith(
        LIBRARIES)


def _walk(b: _Builder, module: nn.Module, path: str) -> None:
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            _walk(b, child, f"{path}.{name}" if path else name)
        return
    shape = b.shape
    try:
        _leaf(b, module, path)
    except BudgetError as exc:  # a parameter over a budget: say whose
        raise BudgetError(f"{b.source}: module {path or '<top>'!r} "
                          f"({type(module).__name__}): {exc}") from None
    except SnnCompileError:
        raise
    except AttributeError as exc:  # an unpickled module whose state lacks a field (fuzzing)
        raise ModelLoadError(f"{b.source}: module {path or '<top>'!r} "
                             f"({type(module).__name__}) lacks a field its class needs "
                             f"({exc}); the file is damaged or was saved by other code") from None
    except MalformedTensor as exc:  # a damaged sparse weight (fuzzing), not a shape misfit
        raise ModelLoadError(f"{b.source}: module {path or '<top>'!r} "
                             f"({type(module).__name__}): {exc}") from None
    except (ValueError, TypeError, IndexError, RuntimeError, ZeroDivisionError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{b.source}: module {path or '<top>'!r} "
                             f"({type(module).__name__}) does not fit its input of shape "
                             f"{shape}: {first}") from None


def _leaf(b: _Builder, module: nn.Module, path: str) -> None:
    if isinstance(module, SKIPPED):
        return
    elif _is_block(module):
        torch_fx.trace_module(b, module, path, _walk)
    elif isinstance(module, delays.DelayedLinear):
        _delayed(b, module, path)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):  # also SpikingJelly's tdBN
        torch_blocks.batchnorm(b, module, path)
    elif isinstance(module, tuple(TORCH_LAYERS)):
        next(f for cls, f in TORCH_LAYERS.items() if isinstance(module, cls))(b, module, path)
    elif isinstance(module, layers._Neuron):
        _own(b, module, path)
    elif isinstance(module, AdaptiveLIF):
        from snncompile.frontends.adaptive_modules import map_adaptive

        map_adaptive(b, module, path)
    elif type(module).__module__.startswith("snntorch."):
        _snntorch(b, module, path)
    elif type(module).__module__ == "spikingjelly.activation_based.layer.attention" and type(
            module).__name__ in ("SpikingSelfAttention", "SpikeDrivenSelfAttention"):
        from snncompile.frontends import attention

        attention.MAPPERS[type(module).__name__](b, module, path, _walk)
    elif type(module).__module__.startswith("spikingjelly."):
        from snncompile.frontends import spikingjelly

        spikingjelly.map_module(b, module, path)
    elif type(module).__module__.startswith("norse."):
        from snncompile.frontends import norse_modules

        norse_modules.map_module(b, module, path)
    else:
        raise b.fail(module, path or "<top>", f"snncompile maps {KNOWN}")


def from_module(module: nn.Module, input_shape: Sequence[int], dt: float = 1e-3,
                source: str = "<module>", fold: bool = True) -> Graph:
    """The nn Graph of `module` (input (batch, *input_shape) per step), with exact semantics.
    `fold` False keeps each BatchNorm as its own per-channel node (QAT mirrors the folding)."""
    b = _Builder(check_shape(tuple(int(d) for d in input_shape), f"{source}: input"),
                 float(dt), source)
    _walk(b, module, "")
    if isinstance(b.last, tuple):
        raise UnsupportedOp(module, source, f"its output is the sum {' + '.join(b.last)}; a "
                            "graph output is one layer's (end with a neuron or a Linear)")
    b.add("output", nn_ops.Output(shape=b.shape))
    graph = Graph(level="nn", nodes=b.nodes, edges=tuple(b.edges), dt=float(dt),
                  meta={"source": Path(source).name, "frontend": "torch"})
    return torch_blocks.fold_norms(graph, b.norms) if fold else graph
