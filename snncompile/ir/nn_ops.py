"""`nn`-level ops: float, NIR names and meanings, plus the discretization fields NIR leaves
implicit.

Time is discrete with step `dt` (a field of the Graph). Each op's docstring is its equation for one
step t = 1, 2, ...; the reference interpreter (snncompile.sim.reference) is the executable form.
Neuron ops make explicit what frameworks disagree on:

* `reset`: "zero" (v <- v_reset) or "subtract" (v <- v - v_threshold);
* `reset_timing`: "immediate" (Loihi, Norse: applied in the step that spikes) or "next_step"
  (snnTorch's default `reset_delay=True`: the spike of step t-1 resets step t). Exactly:
  next_step + zero: LIF/IF v[t] = v_reset + (dt/tau) r x[t] (IF: v_reset + r x[t]) where s[t-1];
  CubaLIF v[t] = v_reset where s[t-1], input included (snnTorch Synaptic);
  next_step + subtract: v[t] = Euler(v[t-1]) - v_threshold * s[t-1];
* spike rule: s = v > v_threshold (strict; snnTorch, Norse and Lava LIF all use '>').
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from snncompile.ir.conv_geometry import conv_output_hw
from snncompile.ir.csr import csr_problem

# the neuron ops live in nn_neurons.py; nn_ops is the whole nn namespace (nn_ops.LIF, OPS)
from snncompile.ir.nn_neurons import (  # noqa: F401
    IF,
    LIF,
    RESET_TIMINGS,
    RESETS,
    AdaptiveLIF,
    CubaLIF,
)
from snncompile.ir.op import NNOp

F = np.float64


@dataclasses.dataclass(frozen=True, eq=False)
class Input(NNOp):
    """Graph input: x[t] is the user's input array at step t, shape `shape`."""

    shape: tuple[int, ...]
    kind: ClassVar[str] = "input"

    def output_shape(self, input_shape):
        return tuple(self.shape)


@dataclasses.dataclass(frozen=True, eq=False)
class Output(NNOp):
    """Graph output: y[t] = x[t], shape `shape`."""

    shape: tuple[int, ...]
    kind: ClassVar[str] = "output"


@dataclasses.dataclass(frozen=True, eq=False)
class Affine(NNOp):
    """y[t] = weight @ x[t] + bias; weight (out, in), x flattened to (in,)."""

    weight: np.ndarray
    bias: np.ndarray
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": F, "bias": F}

    def output_shape(self, input_shape):
        return _dense_output(self.weight, input_shape)


def _dense_output(weight: np.ndarray, input_shape: tuple[int, ...]) -> tuple[int]:
    """A dense weight (out, in) must take the flattened input: in = its number of elements."""
    size = int(np.prod(input_shape)) if input_shape else 1
    if weight.ndim != 2 or weight.shape[1] != size:
        raise ValueError(f"weight of shape {weight.shape} does not take an input of {size} "
                         "values")
    return (weight.shape[0],)


@dataclasses.dataclass(frozen=True, eq=False)
class Linear(NNOp):
    """y[t] = weight @ x[t]; weight (out, in)."""

    weight: np.ndarray
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": F}

    def output_shape(self, input_shape):
        return _dense_output(self.weight, input_shape)


@dataclasses.dataclass(frozen=True, eq=False)
class SparseLinear(NNOp):
    """y[t] = W @ x[t] (+ bias; None: none), W (out, in) = `matrix_shape` held as CSR: row i has
    `weight[indptr[i]:indptr[i + 1]]` at columns `indices[...]` (rising), absent entries zero.
    A pruned model's weight (torch sparse tensor), kept sparse to hw.Sparse: never made dense."""

    matrix_shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"indptr": np.int64, "indices": np.int64, "weight": F,
                                    "bias": F}

    def __post_init__(self):
        super().__post_init__()
        shape = tuple(int(d) for d in self.matrix_shape)
        why = csr_problem(shape, self.indptr, self.indices, self.weight)
        if why or (self.bias is not None and self.bias.shape != shape[:1]):
            raise ValueError(why or f"bias has shape {self.bias.shape}, not ({shape[0]},)")
        object.__setattr__(self, "matrix_shape", shape)

    def output_shape(self, input_shape):
        size = int(np.prod(input_shape)) if input_shape else 1
        if size != self.matrix_shape[1]:
            raise ValueError(f"its {self.matrix_shape} matrix does not take {size} inputs")
        return (self.matrix_shape[0],)


@dataclasses.dataclass(frozen=True, eq=False)
class DelayLinear(NNOp):
    """y_i[t] = sum_j weight[i, j] * x_j[t - delay[i, j]] + bias_i; x[t] = 0 for t < 1.

    A Linear whose synapse (i, j) reads its input `delay[i, j]` steps late (integer steps of dt,
    >= 0; 0 is a plain Linear). NIR's axonal `Delay` before a Linear/Affine reads as this op with
    per-column delays; `bias` (None: no bias) is constant, so it is never delayed.
    """

    weight: np.ndarray
    delay: np.ndarray
    bias: np.ndarray | None = None
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": F, "delay": np.int64, "bias": F}

    def __post_init__(self):
        if np.any(np.asarray(self.delay) != np.round(np.asarray(self.delay, dtype=F))):
            raise ValueError("DelayLinear delays must be whole steps")
        super().__post_init__()
        if self.delay.shape != self.weight.shape:
            raise ValueError(f"delay has shape {self.delay.shape}, weight {self.weight.shape}")
        if self.delay.size and self.delay.min() < 0:
            raise ValueError(f"delay {int(self.delay.min())} is negative")

    def output_shape(self, input_shape):
        return (self.weight.shape[0],)


@dataclasses.dataclass(frozen=True, eq=False)
class Scale(NNOp):
    """y[t] = scale * x[t] (element-wise, broadcast)."""

    scale: np.ndarray
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"scale": F}


@dataclasses.dataclass(frozen=True, eq=False)
class Conv2d(NNOp):
    """y[t] = conv2d(x[t], weight) + bias[:, None, None], PyTorch cross-correlation on (C, H, W).

    weight is (C_out, C_in / groups, kH, kW); stride, padding, dilation are (h, w) pairs.
    """

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": F, "bias": F}

    def output_shape(self, input_shape):
        _check_channels(input_shape, self.weight.shape, self.groups)
        h, w = conv_output_hw(
            input_shape[1:], self.weight.shape[2:], self.stride, self.padding, self.dilation
        )
        return (self.weight.shape[0], h, w)


def _check_channels(input_shape: tuple[int, ...], weight_shape: tuple[int, ...],
                    groups: int) -> None:
    """A conv's input channels must be weight.shape[1] x groups, its outputs divisible by groups."""
    if groups < 1 or weight_shape[0] % groups or input_shape[0] != weight_shape[1] * groups:
        raise ValueError(f"weight {tuple(weight_shape)} with groups {groups} does not fit "
                         f"{input_shape[0]} input channels")


@dataclasses.dataclass(frozen=True, eq=False)
class Conv1d(NNOp):
    """y[t] = conv1d(x[t], weight) + bias[:, None], PyTorch cross-correlation on (C, L).

    weight is (C_out, C_in / groups, K); stride, padding (symmetric), dilation are integers.
    Lowered like any synapse chain (an exact Dense), so hw holds it wherever it holds Dense.
    """

    weight: np.ndarray
    bias: np.ndarray
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": F, "bias": F}

    def output_shape(self, input_shape):
        _check_channels(input_shape, self.weight.shape, self.groups)
        (length,) = input_shape[1:]
        k = self.weight.shape[2]
        out = (length + 2 * self.padding - self.dilation * (k - 1) - 1) // self.stride + 1
        return (self.weight.shape[0], out)


@dataclasses.dataclass(frozen=True, eq=False)
class SumPool2d(NNOp):
    """y[t][c, i, j] = sum of x[t][c] over the window at (i*stride, j*stride) (zero padding)."""

    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    kind: ClassVar[str] = "synapse"

    def output_shape(self, input_shape):
        h, w = conv_output_hw(input_shape[1:], self.kernel_size, self.stride, self.padding, 1)
        return (input_shape[0], h, w)


@dataclasses.dataclass(frozen=True, eq=False)
class AvgPool2d(SumPool2d):
    """y[t] = SumPool2d(x[t]) / (kH * kW)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Flatten(NNOp):
    """y[t] = x[t] with dims start_dim..end_dim (per-sample dims, C order) merged into one."""

    start_dim: int = 0
    end_dim: int = -1
    kind: ClassVar[str] = "synapse"

    def output_shape(self, input_shape):
        n = len(input_shape)
        start, end = self.start_dim % n, self.end_dim % n
        merged = int(np.prod(input_shape[start : end + 1]))
        return tuple(input_shape[:start]) + (merged,) + tuple(input_shape[end + 1 :])


@dataclasses.dataclass(frozen=True, eq=False)
class Unflatten(NNOp):
    """y[t] = x[t] reshaped (C order) to `shape`, which holds as many values as x[t].

    The inverse of Flatten for a flat synapse output that a shaped op reads next (the spiking
    self-attention mapping sums its gates with a Linear and hands (C, L) on). NIR has no such node.
    """

    shape: tuple[int, ...]
    kind: ClassVar[str] = "synapse"

    def output_shape(self, input_shape):
        if int(np.prod(input_shape)) != int(np.prod(self.shape)):
            raise ValueError(f"{input_shape} does not hold the {int(np.prod(self.shape))} values "
                             f"of {tuple(self.shape)}")
        return tuple(int(d) for d in self.shape)


OPS: dict[str, type[NNOp]] = {
    cls.__name__: cls
    for cls in (Input, Output, Affine, Linear, SparseLinear, DelayLinear, Scale, Conv1d, Conv2d,
                SumPool2d, AvgPool2d, Flatten, Unflatten, IF, LIF, CubaLIF, AdaptiveLIF)
}
