"""Safe .pt/.pth loading: unpickle only known layer classes, so a model file cannot run code.

`torch.load(weights_only=True)` with an allowlist of layer classes (torch.nn, snncompile.nn,
snnTorch Leaky/Synaptic, SpikingJelly's mapped neurons, layers and surrogates; their classes hold
only numbers, tensors and flags, set through nn.Module's own __setstate__). Norse modules
cannot be saved whole with torch.save at all (their parameter tuples are generated classes), so
none is listed. snnTorch pickles its layers' bound methods (state_function,
spike_grad) through `getattr`; that global is replaced by `_layer_getattr`, which answers only
for those named methods of snnTorch layers. Anything else refused by the unpickler is a
ModelLoadError naming the class; `trust_pickle=True` (CLI --trust-pickle) loads with plain
pickle, which runs whatever code the file holds.

Accepted contents: snncompile.nn.save's dict {"format": "snncompile-torch/1", "input_shape",
"dt", "model"}, or a bare module (input shape from the option `input_shape`, else from a first
Linear layer). A state dict alone has no architecture and is refused with that said.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snncompile.errors import ModelLoadError
from snncompile.frontends.torch_modules import from_module
from snncompile.ir.graph import Graph
from snncompile.nn import FORMAT, delays, layers
from snncompile.nn.adaptive import AdaptiveLIF

DEFAULT_DT = 1e-3
TRUST_HINT = ("pass --trust-pickle to load it anyway (runs code from the file; only for files you "
              "trust)")
_SNNTORCH_METHODS = frozenset({"_base_sub", "_base_zero", "_base_int", "_surrogate_bypass"})
_TORCH_CLASSES = [
    nn.Sequential, nn.Linear, nn.Conv1d, nn.Conv2d, nn.Flatten, nn.AvgPool2d, nn.MaxPool2d, nn.ReLU,
    nn.Identity, nn.Dropout, nn.BatchNorm1d, nn.BatchNorm2d,
]


def _snntorch() -> Any:
    try:
        import snntorch
        from snntorch import surrogate
    except ImportError:
        return None, None
    return snntorch, surrogate


_SJ_LAYERS = ("Linear", "Conv2d", "Flatten", "AvgPool2d", "SeqToANNContainer", "Dropout",
              "Dropout2d", "BatchNorm1d", "BatchNorm2d", "MaxPool2d",
              "ThresholdDependentBatchNorm2d")
_SJ_NEURONS = ("LIFNode", "ParametricLIFNode", "IFNode")
_SJ_SURROGATES = ("Sigmoid", "ATan", "PiecewiseQuadratic", "PiecewiseExp", "SoftSign", "Erf",
                  "SuperSpike", "PiecewiseLeakyReLU", "Rect")


def _spikingjelly() -> list[Any]:
    """SpikingJelly's mapped classes, or none if it is not installed."""
    try:
        from spikingjelly.activation_based import layer, neuron, surrogate
    except ImportError:
        return []
    return ([getattr(layer, n) for n in _SJ_LAYERS] + [getattr(neuron, n) for n in _SJ_NEURONS]
            + [getattr(surrogate, n) for n in _SJ_SURROGATES])


def _layer_getattr(obj: Any, name: str) -> Any:
    """getattr for unpickling, limited to the methods snnTorch layers store as attributes."""
    snntorch, surrogate = _snntorch()
    if snntorch is not None:
        neuron = snntorch.SpikingNeuron
        is_class = isinstance(obj, type)
        if name in _SNNTORCH_METHODS and (isinstance(obj, neuron) or
                                          (is_class and issubclass(obj, neuron))):
            return getattr(obj, name)
        if (name == "apply" and is_class and issubclass(obj, torch.autograd.Function)
                and obj.__module__ == surrogate.__name__):
            return obj.apply
    what = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    raise pickle.UnpicklingError(f"Unsupported global: GLOBAL getattr:{what}.{name} was not "
                                 "an allowed global")


def allowed_globals() -> list[Any]:
    """The classes (and the restricted getattr) a model file may name."""
    allowed: list[Any] = list(_TORCH_CLASSES)
    allowed += [layers.IF, layers.LIF, layers.CubaLIF, layers.RLIF]
    allowed += [delays.DelayedLinear, AdaptiveLIF]
    snntorch, surrogate = _snntorch()
    if snntorch is not None:
        allowed += [snntorch.Leaky, snntorch.Synaptic, snntorch.SpikingNeuron]
        from snntorch._neurons import rleaky, rsynaptic  # their one-to-one recurrence modules

        allowed += [snntorch.RLeaky, snntorch.RSynaptic, rleaky.RecurrentOneToOne,
                    rsynaptic.RecurrentOneToOne]
        allowed += [surrogate.ATan, surrogate.FastSigmoid, surrogate.Sigmoid, surrogate.Triangular]
    allowed += _spikingjelly()
    allowed += [(_layer_getattr, "builtins.getattr"), (_layer_getattr, "__builtin__.getattr")]
    return allowed


def _refused(message: str) -> str | None:
    """The global torch's safe unpickler refused, parsed from its error message."""
    for pattern in (r"GLOBAL (\S+) was not an allowed global", r"GLOBAL (\S+) whose module",
                    r"but got <class '([^']+)'>", r"unrecognized function (<[^>]*>|\S+)"):
        found = re.search(pattern, message)
        if found:
            return found.group(1)
    return None


def _detail(message: str) -> str:
    tail = message.split("WeightsUnpickler error:", 1)[-1]
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    return lines[0] if lines else "unpickling failed"


def _read(path: Path, trust_pickle: bool) -> Any:
    try:
        if trust_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        name = None if trust_pickle else _refused(str(exc))
        if name is None:
            raise ModelLoadError(f"{path}: not a loadable PyTorch file ({_detail(str(exc))})"
                                 ) from None
        raise ModelLoadError(f"{path}: refused to unpickle {name}, which is not a known layer "
                             f"class; {TRUST_HINT}") from None
    except Exception as exc:  # noqa: BLE001 - torch zip reader errors vary; say it in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{path}: not a readable PyTorch file ({first})") from None


def first_linear_shape(model: nn.Module) -> tuple[int, ...] | None:
    for m in model.modules():
        if isinstance(m, (nn.Sequential, nn.Identity, nn.Dropout)):
            continue
        linear = isinstance(m, (nn.Linear, delays.DelayedLinear))
        return (int(m.in_features),) if linear else None
    return None


def load(path: str | Path, input_shape: Sequence[int] | None = None, dt: float | None = None,
         trust_pickle: bool = False, **_: Any) -> Graph:
    """Read a .pt/.pth model file safely (see the module docstring) into an nn Graph."""
    module, shape, step = read_module(path, input_shape, dt, trust_pickle)
    return from_module(module, shape, dt=step, source=str(path))


def read_module(path: str | Path, input_shape: Sequence[int] | None = None,
                dt: float | None = None, trust_pickle: bool = False
                ) -> tuple[nn.Module, tuple[int, ...], float]:
    """The torch module in a model file (read safely), its input shape and time step."""
    path = Path(path)
    obj = _read(path, bool(trust_pickle))
    saved_shape, saved_dt = None, None
    if isinstance(obj, dict) and "format" in obj:
        if obj.get("format") != FORMAT or not isinstance(obj.get("model"), nn.Module):
            raise ModelLoadError(f"{path}: format {obj.get('format')!r} is not {FORMAT!r} with a "
                                 "model in it")
        saved_shape, saved_dt, obj = obj.get("input_shape"), obj.get("dt"), obj["model"]
    if isinstance(obj, dict):
        raise ModelLoadError(f"{path}: holds a dict of {len(obj)} entries (a state dict?) but no "
                             "model; save the whole model, e.g. with snncompile.nn.save")
    if not isinstance(obj, nn.Module):
        raise ModelLoadError(f"{path}: holds a {type(obj).__name__}, not a torch module")
    shape = input_shape or saved_shape or first_linear_shape(obj)
    if not shape:
        raise ModelLoadError(f"{path}: the input shape cannot be inferred (the model does not "
                             "start with a Linear layer); pass --input-shape")
    step = float(dt if dt is not None else saved_dt if saved_dt is not None else DEFAULT_DT)
    return obj, tuple(int(d) for d in shape), step
