"""`hw`-level ops: integers, discrete time, Loihi 2 fixed point as Lava 0.10.0's `fixed_pt` models
run it.

Sources are sections of docs/spec/loihi2-fixed-point.md ("spec §n"). Time starts at t = 1.
Every synapse (Dense, Conv) is a one-step register: a spike sent at step t reaches the target's
input at step t + 1 (spec §0.1). Several synapses into one neuron population are summed (spec §0).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from snncompile.ir.conv_geometry import conv_output_hw
from snncompile.ir.csr import csr_problem
from snncompile.ir.op import Op, frozen_array

I64 = np.int64
SIGN_MODES = ("auto", "excitatory", "inhibitory", "mixed")


class HWOp(Op):
    level: ClassVar[str] = "hw"


class Population(HWOp):
    """A neuron population whose PER_NEURON fields hold one integer when every neuron shares it,
    else a per-neuron array (Lava's own LIF and ATRLIF hold one of each: `heterogeneous`)."""

    PER_NEURON: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        super().__post_init__()
        for name in self.PER_NEURON:
            object.__setattr__(self, name, per_neuron(getattr(self, name), self.shape, name))

    def output_shape(self, input_shape):
        return tuple(self.shape)

    @property
    def heterogeneous(self) -> bool:
        """True if a PER_NEURON field differs between neurons."""
        return any(isinstance(getattr(self, k), np.ndarray) for k in self.PER_NEURON)


@dataclasses.dataclass(frozen=True, eq=False)
class SpikeInput(HWOp):
    """Spike source: the input array's step t (binary, any non-zero = spike) is emitted at hw step
    t."""

    shape: tuple[int, ...]
    kind: ClassVar[str] = "input"

    def output_shape(self, input_shape):
        return tuple(self.shape)


@dataclasses.dataclass(frozen=True, eq=False)
class GradedInput(SpikeInput):
    """Integer input sent each step straight into the `a_in` of the LIF populations it feeds, with
    no synapse, so it arrives in the same step (netx `input` layer with a neuron, spec §4.2): step
    t of the input array is added (<< 6) to u at hw step t. Values are int32 on Lava's channel."""

    kind: ClassVar[str] = "input"


@dataclasses.dataclass(frozen=True, eq=False)
class AnalogInput(SpikeInput):
    """Real-valued (direct) input sent as graded spikes through the synapses it feeds: step t's
    value x enters as the integer q = clip(rint(x / scale), -qmax, qmax), qmax = 2^(bits-1) - 1,
    emitted at hw step t; a Dense or Conv reading it adds W * q (Lava's num_message_bits = bits)
    instead of W * [s != 0]. `scale` is the real value of one input unit, chosen at compile
    time from the input's range (docs/semantics.md, "Analog input")."""

    scale: float = 1.0
    bits: int = 8
    kind: ClassVar[str] = "input"

    def __post_init__(self):
        super().__post_init__()
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be a positive finite number, not {self.scale!r}")
        if not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be 2..8 (int8 payloads), not {self.bits!r}")

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Real input -> the int8 payloads the hardware receives (the one rounding rule: every
        back end and the generated Lava program apply exactly this)."""
        q = np.rint(np.asarray(x, dtype=np.float64) / self.scale)
        return np.clip(q, -self.qmax, self.qmax).astype(np.int8)


@dataclasses.dataclass(frozen=True, eq=False)
class SpikeOutput(HWOp):
    """Records the spikes of the LIF population feeding it (shape `shape`)."""

    shape: tuple[int, ...]
    kind: ClassVar[str] = "output"


@dataclasses.dataclass(frozen=True, eq=False)
class Dense(HWOp):
    """Lava `Dense` bit-accurate model (spec §2.1-2.2). Weights (n_out, n_in) are preprocessed once:

        mode = sign_mode, or from W if "auto": excitatory if min W >= 0, inhibitory if max W <= 0,
        else mixed
        W = clip(W, [-256, 255] mixed | [0, 255] exc | [-255, 0] inh)
        k = 8 - num_weight_bits + (mode == mixed)
        W = (W >> k) << k  (mixed/exc);  W = -(((-W) >> k) << k)  (inh)
    Each step: a_out[t + 1] = shift(W @ [s[t] != 0], weight_exp), shift = << e or arithmetic >> -e
    (floor), applied after the fan-in sum. Input is flattened in C order.
    """

    weights: np.ndarray
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str = "auto"
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weights": I64}

    def __post_init__(self):
        super().__post_init__()
        if self.sign_mode not in SIGN_MODES:
            raise ValueError(f"sign_mode must be one of {SIGN_MODES}, not {self.sign_mode!r}")

    def output_shape(self, input_shape):
        return (self.weights.shape[0],)


@dataclasses.dataclass(frozen=True, eq=False)
class DelayDense(Dense):
    """Lava `DelayDense` bit-accurate model (spec §2.3): Dense with an integer delay per synapse,
    `delays` (n_out, n_in) in 0..62. A spike sent at step t through synapse (i, j) reaches neuron i
    at step t + 1 + delays[i, j]; the weight_exp shift is floored per (step, delay) group:

        a_out[t] = sum_k shift(W_k @ [s[t - 1 - k] != 0], weight_exp),  W_k = W where delays == k
    """

    delays: np.ndarray = dataclasses.field(kw_only=True)
    array_fields: ClassVar[dict] = {"weights": I64, "delays": I64}

    def __post_init__(self):
        super().__post_init__()
        if self.delays.shape != self.weights.shape:
            raise ValueError(f"delays have shape {self.delays.shape}, weights {self.weights.shape}")


@dataclasses.dataclass(frozen=True, eq=False)
class Sparse(HWOp):
    """Lava `Sparse` bit-accurate model (lava/proc/sparse/models.py, PySparseModelBitAcc): Dense's
    rule on a CSR matrix (n_out, n_in) = `matrix_shape` whose row i holds the weights
    `weights[indptr[i]:indptr[i + 1]]` at the columns `indices[...]` (strictly increasing in a
    row); absent entries are zero. Lava's preprocessing is Dense's, on the stored values, the
    sign mode from all entries (implicit zeros included):

        W = clip(W), W = (W >> k) << k as Dense;  a_out[t + 1] = shift(W @ [s[t] != 0], weight_exp)
    wrapped to int32 like Dense's channel. Chosen over Dense when it is smaller (passes/sparse.py).
    """

    matrix_shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str = "auto"
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"indptr": I64, "indices": I64, "weights": I64}

    def __post_init__(self):
        super().__post_init__()
        if self.sign_mode not in SIGN_MODES:
            raise ValueError(f"sign_mode must be one of {SIGN_MODES}, not {self.sign_mode!r}")
        try:
            shape = tuple(int(d) for d in self.matrix_shape)
        except (TypeError, ValueError):
            raise ValueError(f"matrix_shape must be (n_out, n_in), not {self.matrix_shape!r}"
                             ) from None
        why = csr_problem(shape, self.indptr, self.indices, self.weights)
        if why:
            raise ValueError(why)

    @property
    def nnz(self) -> int:
        """Stored entries (the synapses)."""
        return int(self.weights.size)

    def output_shape(self, input_shape):
        if int(np.prod(input_shape)) != int(self.matrix_shape[1]):
            raise ValueError(f"its {tuple(self.matrix_shape)} matrix needs "
                             f"{int(self.matrix_shape[1])} inputs, not {int(np.prod(input_shape))}")
        return (int(self.matrix_shape[0]),)


@dataclasses.dataclass(frozen=True, eq=False)
class Conv(HWOp):
    """Lava `Conv` fixed model (spec §2.4), written in PyTorch layout (the Lava back end
    transposes):

        a_out[t + 1] = wrap24(conv2d([s[t] != 0], weight))
        wrap24(x) = (x + 2^23) mod 2^24 - 2^23
    weight (C_out, C_in / groups, kH, kW) integers, cross-correlation on (C, H, W); no weight_exp,
    no clipping or truncation of weights (Lava applies none to Conv).
    """

    weight: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    kind: ClassVar[str] = "synapse"
    array_fields: ClassVar[dict] = {"weight": I64}

    def output_shape(self, input_shape):
        h, w = conv_output_hw(
            input_shape[1:], self.weight.shape[2:], self.stride, self.padding, self.dilation
        )
        return (self.weight.shape[0], h, w)


@dataclasses.dataclass(frozen=True, eq=False)
class LIF(Population):
    """Lava `LIF` / `LIFReset` bit-accurate model (spec §1.1, §1.2); tz(x) = sign(x)(|x| >> 12):

        if reset_interval and t % reset_interval == reset_offset % reset_interval: u = v = 0
        u1 = tz(u * (4096 - (du + 1))) + (a_in << 6)
        u  = u1 - 2^24 if u1 > 2^23;  u1 + 2^24 if u1 <= -2^23;  else u1      (one correction)
        v  = clip(tz(v * (4096 - dv)) + u + (bias_mant << bias_exp  |  >> -bias_exp), +-(2^23 - 1))
        s  = v > (vth << 6);   v[s] = 0 ("zero")  |  v[s] -= vth << 6 ("subtract": SnnLIF)
    "subtract_next" (snnTorch's default delayed reset, SnnLIF) instead subtracts the previous
    step's spike inside the v update and leaves v alone after a spike:
        v  = clip(tz(v * (4096 - dv)) + u + bias - (vth << 6) * s[t - 1], +-(2^23 - 1))
    (a periodic reset clears s[t - 1] with u and v).
    du, dv, vth are one integer for the population, or per neuron: an int64 array of `shape`
    when they differ (a uniform array is stored as its one integer, so graphs compare and
    serialize as before); Lava's own LIF holds one value, the shipped SnnLIF process a vector
    (snncompile/lava_models/snn_lif.py). bias_mant, bias_exp are per neuron.
    """

    shape: tuple[int, ...]
    du: int | np.ndarray
    dv: int | np.ndarray
    vth: int | np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    reset: str = "zero"
    reset_interval: int = 0
    reset_offset: int = 0
    kind: ClassVar[str] = "neuron"
    array_fields: ClassVar[dict] = {"bias_mant": I64, "bias_exp": I64}
    PER_NEURON: ClassVar[tuple[str, ...]] = ("du", "dv", "vth")


def per_neuron(value, shape: tuple[int, ...], name: str = "value") -> int | np.ndarray:
    """One integer if every neuron shares it, else a read-only int64 array of `shape`."""
    arr = np.asarray(value)
    if arr.ndim == 0 or arr.size == 0:
        return int(arr) if arr.size else 0
    if np.all(arr == arr.flat[0]):
        return int(arr.flat[0])
    try:
        full = np.broadcast_to(arr.astype(np.int64), tuple(shape))
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, the population {tuple(shape)}") from None
    return frozen_array(full, I64)


@dataclasses.dataclass(frozen=True, eq=False)
class ATRLIF(Population):
    """Lava's adaptive-threshold neuron `ATRLIF`, as its fixed model `PyATRLIFModelFixed` runs it.

    (lava/proc/atrlif/models.py, spec §1.6.) An adaptive threshold theta and a refractory term r
    replace the voltage reset. Decays are stored as integers d = delta * 4096 (the program passes
    delta = d / 4096, exact in float); wrap32 is the int32 cast Lava's arithmetic performs,
    tz(x) = sign(x)(|x| >> 12):

        first step: theta = theta_0 << 6 (Lava overwrites any initial theta)
        i1 = wrap32(tz(i * (4096 - (delta_i + 1))) + (a_in << 6))
        i  = i1 - 2^24 if i1 > 2^23;  i1 + 2^24 if i1 <= -2^23;  else i1     (as LIF's u)
        v  = clip(wrap32(tz(v * (4096 - delta_v)) + i + bias), +-(2^23 - 1))
        theta = wrap32(tz(wrap32(theta - (theta_0 << 6)) * (4096 - delta_theta))) + (theta_0 << 6)
        r  = wrap32(tz(r * (4096 - delta_r)))                  (theta and r are never clipped)
        s  = wrap32(v - r) >= theta                            (non-strict, unlike LIF)
        r[s] += 2 theta[s];  theta[s] += theta_step << 6       (int32 wrap; v is not reset)
    delta_*, theta_0, theta_step are one integer for the population, or per neuron: an int64
    array of `shape` when they differ (as LIF's du, dv, vth; co-learned adaptation trains them
    per neuron). Lava's own ATRLIF holds one value each, the shipped SnnATRLIF process vectors
    (snncompile/lava_models/snn_atrlif.py). bias_mant, bias_exp are per neuron, as in LIF.
    """

    shape: tuple[int, ...]
    delta_i: int | np.ndarray
    delta_v: int | np.ndarray
    delta_theta: int | np.ndarray
    delta_r: int | np.ndarray
    theta_0: int | np.ndarray
    theta_step: int | np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    kind: ClassVar[str] = "neuron"
    array_fields: ClassVar[dict] = {"bias_mant": I64, "bias_exp": I64}
    PER_NEURON: ClassVar[tuple[str, ...]] = ("delta_i", "delta_v", "delta_theta", "delta_r",
                                             "theta_0", "theta_step")


ACT_MODES = ("relu", "unit")  # Lava's sdn ActivationMode (RELU = 1, UNIT = 0)


@dataclasses.dataclass(frozen=True, eq=False)
class Sigma(HWOp):
    """Lava's sdn `Sigma` (PySigmaModelFixed, lava/proc/sdn/models.py), a graded accumulator, int32:

        sigma = wrap32(sigma + a_in);   s_out = sigma   (a graded spike every step)
    netx builds it for an SDNN layer with `sigma_output`. `num_message_bits` > 0 tells the synapses
    it feeds to read the value, not just `!= 0` (Lava's Dense / Conv `num_message_bits`).
    """

    shape: tuple[int, ...]
    num_message_bits: int = 16
    kind: ClassVar[str] = "neuron"

    def output_shape(self, input_shape):
        return tuple(self.shape)

    @property
    def graded(self) -> bool:
        return self.num_message_bits > 0


@dataclasses.dataclass(frozen=True, eq=False)
class Delta(Sigma):
    """Lava's sdn `Delta` (PyDeltaModelFixed), a delta encoder of its input, int32 arithmetic:

        x = a_in << (spike_exp + state_exp);  th = vth << (spike_exp + state_exp)
        delta = x - act + residue;  act = x
        cum_error: error += delta;  s = delta where |error| >= th else 0;  error = 0 where s != 0
        else:      s = delta where |delta| >= th else 0
        residue = delta - s;  s_out = s >> state_exp (floor)
    netx builds it for an SDNN `input` layer; vth is netx's vThMant (one per population).
    """

    vth: int = 0
    cum_error: bool = False
    spike_exp: int = 0
    state_exp: int = 0


@dataclasses.dataclass(frozen=True, eq=False)
class SigmaDelta(Delta):
    """Lava's sdn `SigmaDelta` (PySigmaDeltaModelFixed): Sigma, an activation, then Delta:

        sigma = sigma + a_in   (a_in is not shifted);  b = bias << (spike_exp + state_exp)
        x = relu(sigma + b) ("relu") | sigma + b ("unit"), then Delta's rule on x (int32 wraps)
    bias is per neuron (netx's layer bias, int32), vth one integer (netx's vThMant).
    """

    bias: np.ndarray = dataclasses.field(kw_only=True)
    act_mode: str = "relu"
    array_fields: ClassVar[dict] = {"bias": I64}

    def __post_init__(self):
        super().__post_init__()
        if self.act_mode not in ACT_MODES:
            raise ValueError(f"act_mode must be one of {ACT_MODES}, not {self.act_mode!r}")


OPS: dict[str, type[HWOp]] = {
    cls.__name__: cls
    # (the order of docs/support.md's rows and of a back end's first refusal: a sigma-delta
    # network's graded input is refused after its neurons, whose reason says more)
    for cls in (SpikeInput, Sigma, Delta, SigmaDelta, GradedInput, AnalogInput, SpikeOutput, Dense,
                DelayDense, Sparse, Conv, LIF, ATRLIF)
}
