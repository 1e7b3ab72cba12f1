"""The ops of the graphs between `nn` and `hw`: what `lower` and `discretize` make (level nn).

`lower` folds every chain of nn synapse ops between two spiking layers into one GroupedDense or
GroupedConv and wraps each nn neuron op in a Layer with the biases and depth it found;
`discretize` turns each Layer into a SteppedLayer holding its per-step recurrence; `quantize`
reads that graph and makes the hw graph. The passes hand each other nothing but these graphs,
so the graph checker runs after each and `--dump-after PASS` prints each as text (ir/text.py
reads it back). They are the nn network with its synapse chains folded, still in floats; the
reference interpreter runs the nn graph itself.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from snncompile.ir.conv_geometry import conv_output_hw
from snncompile.ir.csr import csr_problem
from snncompile.ir.nn_ops import F
from snncompile.ir.op import NNOp, Op


@dataclasses.dataclass(frozen=True, eq=False)
class GroupedDense(NNOp):
    """y[t] = weight @ x[t] (x flattened), shaped `out_shape`: the linear part of a chain of nn
    synapse ops from one layer to another (the constant part went to the target's bias).
    `recurrent`: the chain delivers the previous step's spikes. `chain`: the nn ops folded in.
    `delays` (out, in) steps per synapse when the chain holds a delay op (`delay_node`);
    `pipeline_pad` steps are already added to every delay, so a skip connection shorter than
    its target's longest input path arrives in the same step (a DelayDense on hardware)."""

    weight: np.ndarray
    out_shape: tuple[int, ...]
    recurrent: bool
    chain: tuple[str, ...]
    delays: np.ndarray | None = None
    delay_node: str = ""
    pipeline_pad: int = 0
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": F, "delays": np.int64}

    def output_shape(self, input_shape):
        if int(np.prod(input_shape)) != self.weight.shape[1]:
            raise ValueError(f"its {self.weight.shape} matrix needs {self.weight.shape[1]} "
                             f"inputs")
        if int(np.prod(self.out_shape)) != self.weight.shape[0]:
            raise ValueError(f"its {self.weight.shape} matrix does not fill {self.out_shape}")
        return tuple(self.out_shape)


@dataclasses.dataclass(frozen=True, eq=False)
class GroupedSparse(NNOp):
    """GroupedDense's map with its matrix (out, in) = `matrix_shape` kept as CSR (nn
    SparseLinear's fields): a chain that is one SparseLinear. quantize encodes the stored
    values only and makes a hw.Sparse; the dense matrix is never built."""

    matrix_shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    weight: np.ndarray
    out_shape: tuple[int, ...]
    recurrent: bool
    chain: tuple[str, ...]
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"indptr": np.int64, "indices": np.int64, "weight": F}

    def __post_init__(self):
        super().__post_init__()
        why = csr_problem(tuple(self.matrix_shape), self.indptr, self.indices, self.weight)
        if why:
            raise ValueError(why)

    def output_shape(self, input_shape):
        n_out, n_in = self.matrix_shape
        if int(np.prod(input_shape)) != n_in or int(np.prod(self.out_shape)) != n_out:
            raise ValueError(f"its {tuple(self.matrix_shape)} matrix needs {n_in} inputs and "
                             f"fills {n_out} outputs")
        return tuple(self.out_shape)

    def rows(self) -> np.ndarray:
        """The row (target neuron) of every stored entry."""
        return np.repeat(np.arange(self.matrix_shape[0]), np.diff(self.indptr))


@dataclasses.dataclass(frozen=True, eq=False)
class GroupedConv(NNOp):
    """y = conv2d(x, weight) on (C, H, W), no bias: a Conv2d chain, a sum or average pool with
    stride == kernel fused into its kernel exactly. `recurrent`, `chain` as GroupedDense."""

    weight: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    recurrent: bool
    chain: tuple[str, ...]
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": F}

    def output_shape(self, input_shape):
        c_out, c_in_group, kh, kw = self.weight.shape
        if len(input_shape) != 3 or input_shape[0] != c_in_group * self.groups:
            raise ValueError(f"it needs (C={c_in_group * self.groups}, H, W)")
        h, w = conv_output_hw(tuple(input_shape[1:]), (kh, kw), self.stride, self.padding,
                              self.dilation)
        return (c_out, h, w)


@dataclasses.dataclass(frozen=True, eq=False)
class Layer(NNOp):
    """A spiking layer as `lower` leaves it: the nn neuron op `neuron` (its equation), fed by
    the summed input of its grouped synapses plus `bias_now` (from nn step 1) and `bias_late`
    (from step 2: a bias behind a recurrent edge), flat, in the neuron's input units. `depth`:
    its synaptic depth (hw steps behind the input); `hw_shape`: its shape on the hardware
    ((C, H, W) when every input is a conv, else flat)."""

    neuron: Op
    hw_shape: tuple[int, ...]
    depth: int
    bias_now: np.ndarray
    bias_late: np.ndarray
    kind: ClassVar[str] = "neuron"
    array_fields: ClassVar[dict] = {"bias_now": F, "bias_late": F}

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(getattr(self.neuron, "shape", ()))


@dataclasses.dataclass(frozen=True, eq=False)
class SteppedLayer(Layer):
    """A Layer with its per-step recurrence at the graph's dt (passes/discretize.py), per
    neuron, flat, float64: u' = (1 - alpha) u + gain x; v' = (1 - beta) v + u' + v_bias; spike
    v' > threshold, then `reset` ("zero" to v_reset, "subtract", or "none": AdaptiveLIF) at
    `reset_timing`. AdaptiveLIF also has theta_decay, ref_decay (dt / tau) and theta_step."""

    alpha: np.ndarray
    beta: np.ndarray
    gain: np.ndarray
    v_bias: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray
    reset: str
    reset_timing: str
    theta_decay: np.ndarray | None = None
    ref_decay: np.ndarray | None = None
    theta_step: np.ndarray | None = None
    array_fields: ClassVar[dict] = {
        "bias_now": F, "bias_late": F, "alpha": F, "beta": F, "gain": F, "v_bias": F,
        "threshold": F, "v_reset": F, "theta_decay": F, "ref_decay": F, "theta_step": F,
    }


OPS: dict[str, type[NNOp]] = {
    cls.__name__: cls for cls in (GroupedDense, GroupedSparse, GroupedConv, Layer, SteppedLayer)
}
