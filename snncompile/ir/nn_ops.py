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

from snncompile.ir.csr import csr_problem
from snncompile.ir.op import Op

F = np.float64
RESETS = ("zero", "subtract")
RESET_TIMINGS = ("immediate", "next_step")


def pair(value: object) -> tuple[int, int]:
    """(h, w) from an int, a pair, or a size-1/size-2 array (the forms torch and NIR files use)."""
    arr = np.asarray(value).ravel()
    if arr.size not in (1, 2):
        raise ValueError(f"expected one or two integers, got {value!r}")
    return (int(arr[0]), int(arr[-1]))


def same_padding(kernel: object, dilation: object) -> tuple[int, int]:
    """The symmetric padding of 'same' at stride 1; ValueError if the kernel needs uneven
    padding."""
    total = [d * (k - 1) for d, k in zip(pair(dilation), pair(kernel))]
    if any(t % 2 for t in total):
        raise ValueError("padding 'same' with an even kernel pads unevenly")
    return (total[0] // 2, total[1] // 2)


def conv_output_hw(size: tuple[int, int], kernel, stride, padding, dilation) -> tuple[int, int]:
    """Output height/width of a PyTorch-style convolution or pooling window."""
    k, s, p, d = pair(kernel), pair(stride), pair(padding), pair(dilation)
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"stride {s} and dilation {d} must be at least 1 and padding {p} not "
                         "negative")
    h, w = ((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
    return h, w


class NNOp(Op):
    level: ClassVar[str] = "nn"


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


@dataclasses.dataclass(frozen=True, eq=False)
class _Spiking(NNOp):
    kind: ClassVar[str] = "neuron"

    def __post_init__(self):
        super().__post_init__()
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, not {self.reset!r}")
        if self.reset_timing not in RESET_TIMINGS:
            raise ValueError(f"reset_timing must be one of {RESET_TIMINGS}, not "
                             f"{self.reset_timing!r}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(*(getattr(self, k).shape for k in self.array_fields)))


@dataclasses.dataclass(frozen=True, eq=False)
class IF(_Spiking):
    """Integrate-and-fire, forward Euler with the NIR 'per step' convention frameworks use:

        v[t] = v[t-1] + r * x[t];   s[t] = v[t] > v_threshold;   then reset (see module doc).
    """

    r: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    reset: str = "zero"
    reset_timing: str = "immediate"
    array_fields: ClassVar[dict] = {"r": F, "v_threshold": F, "v_reset": F}


@dataclasses.dataclass(frozen=True, eq=False)
class LIF(_Spiking):
    """Leaky integrate-and-fire, NIR `tau dv/dt = (v_leak - v) + r x`, forward Euler at step dt:

        v[t] = v[t-1] + (dt / tau) * (v_leak - v[t-1] + r * x[t]);   s[t] = v[t] > v_threshold.
    (snnTorch Leaky exports tau = dt/(1-beta), r = tau/dt, so this is exactly v = beta v + x.)
    """

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    reset: str = "zero"
    reset_timing: str = "immediate"
    array_fields: ClassVar[dict] = {
        "tau": F, "r": F, "v_leak": F, "v_threshold": F, "v_reset": F,
    }


@dataclasses.dataclass(frozen=True, eq=False)
class CubaLIF(_Spiking):
    """Current-based LIF, forward Euler; the current is updated first and feeds v in the same step:

        i[t] = i[t-1] + (dt / tau_syn) * (w_in * x[t] - i[t-1])
        v[t] = v[t-1] + (dt / tau_mem) * (v_leak - v[t-1] + r * i[t]);   s[t] = v[t] > v_threshold.
    (snnTorch Synaptic: syn = alpha syn + x, mem = beta mem + syn, exported as tau_syn =
    dt/(1-alpha),
    w_in = tau_syn/dt, tau_mem = dt/(1-beta), r = tau_mem/dt; Loihi's u/v order is the same.)
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    w_in: np.ndarray
    reset: str = "zero"
    reset_timing: str = "immediate"
    array_fields: ClassVar[dict] = {
        "tau_syn": F, "tau_mem": F, "r": F, "v_leak": F, "v_threshold": F, "v_reset": F, "w_in": F,
    }


@dataclasses.dataclass(frozen=True, eq=False)
class AdaptiveLIF(NNOp):
    """Adaptive threshold and refractoriness LIF (Lava's ATRLIF, float form), forward Euler at dt;
    no reset of v: a spike raises the threshold theta and the refractory term q instead.

        i[t] = i + (dt / tau_syn) * (w_in * x[t] - i)
        v[t] = v + (dt / tau_mem) * (r * i[t] - v)
        theta[t] = theta + (dt / tau_theta) * (theta_0 - theta);   q[t] = q - (dt / tau_ref) * q
        s[t] = (v[t] - q[t]) >= theta[t]                            (non-strict, as ATRLIF)
        q[t] += 2 * theta[t] * s[t];   theta[t] += theta_step * s[t]
    State starts at i = v = q = 0, theta = theta_0. tau_theta, tau_ref may be inf (no decay).
    snncompile.nn.AdaptiveLIF(alpha, beta, decay_theta, decay_r) is tau = dt / (1 - factor),
    w_in = tau_syn / dt, r = tau_mem / dt. NIR has no such node: the NIR reader never makes one.
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    tau_theta: np.ndarray
    tau_ref: np.ndarray
    r: np.ndarray
    w_in: np.ndarray
    theta_0: np.ndarray
    theta_step: np.ndarray
    kind: ClassVar[str] = "neuron"
    array_fields: ClassVar[dict] = {
        "tau_syn": F, "tau_mem": F, "tau_theta": F, "tau_ref": F, "r": F, "w_in": F,
        "theta_0": F, "theta_step": F,
    }

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(*(getattr(self, k).shape for k in self.array_fields)))


OPS: dict[str, type[NNOp]] = {
    cls.__name__: cls
    for cls in (Input, Output, Affine, Linear, SparseLinear, DelayLinear, Scale, Conv1d, Conv2d,
                SumPool2d, AvgPool2d, Flatten, Unflatten, IF, LIF, CubaLIF, AdaptiveLIF)
}
