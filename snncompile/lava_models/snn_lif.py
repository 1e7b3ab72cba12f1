"""`SnnLIF`: Lava's LIF with per-neuron du, dv, vth and a choice of reset (zero or subtract).

Shipped by snncompile in every loihi2 build that needs it (a copy of this file sits in the build's
lava_models/ folder; it imports only numpy and Lava). Lava 0.10.0's `LIF` holds one du, dv and
vth per population and resets v to zero; snnTorch's default `Leaky`, Sinabs' IAF and every
converted ANN reset by subtraction, and trained per-neuron decays and thresholds differ per
neuron. The fixed_pt model below inherits Lava's own LIF arithmetic (`AbstractPyLifModelFixed`:
the u and v decays, the 24-bit u wrap, the v clip, the bias shift) unchanged and replaces only
the threshold (a vector) and the reset:

    s = v > (vth << 6);   v[s] = 0 (zero)  |  v[s] -= vth[s] << 6 (subtract)

and "subtract_next" (snnTorch's default, reset_delay=True) subtracts the previous step's spike
inside the v update instead (v += -(vth << 6) * s[t - 1] before the clip; v kept after a spike),

so it equals snncompile's emulator (hw.LIF) bit for bit (tests/test_lava_snn_lif.py). It runs in
Lava's CPU simulation only: Loihi 2 silicon needs a microcode neuron for it (docs/loihi2.md).
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: F401  (the model's base)
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed


class SnnLIF(AbstractProcess):
    """LIF population whose du, dv, vth are per neuron (arrays of `shape`, or scalars broadcast)
    and whose reset is "zero", "subtract" or "subtract_next"; reset_interval > 0 clears u, v
    (and the pending subtraction s_prev) on the steps t with t % reset_interval ==
    reset_offset % reset_interval, as Lava's LIFReset does."""

    def __init__(self, *, shape, du, dv, vth, bias_mant, bias_exp, reset="subtract",
                 reset_interval=0, reset_offset=0, name=None):
        if reset not in ("zero", "subtract", "subtract_next"):
            raise ValueError(f"reset must be zero, subtract or subtract_next, not {reset!r}")
        super().__init__(shape=shape, reset=reset, reset_interval=int(reset_interval),
                         reset_offset=int(reset_offset), name=name)
        full = {k: np.broadcast_to(np.asarray(v, dtype=np.int64), shape).copy()
                for k, v in (("du", du), ("dv", dv), ("vth", vth),
                             ("bias_mant", bias_mant), ("bias_exp", bias_exp))}
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.u = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.s_prev = Var(shape=shape, init=0)  # last step's spikes (subtract_next)
        self.du = Var(shape=shape, init=full["du"])
        self.dv = Var(shape=shape, init=full["dv"])
        self.vth = Var(shape=shape, init=full["vth"])
        self.bias_mant = Var(shape=shape, init=full["bias_mant"])
        self.bias_exp = Var(shape=shape, init=full["bias_exp"])


@implements(proc=SnnLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySnnLIFModelFixed(AbstractPyLifModelFixed):
    """Lava's fixed-point LIF update with vector du, dv, vth and the process's reset."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    s_prev: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.subtract = proc_params["reset"] == "subtract"
        self.later = proc_params["reset"] == "subtract_next"
        self.reset_interval = int(proc_params["reset_interval"])
        self.reset_offset = int(proc_params["reset_offset"])
        self.effective_vth = 0

    def scale_threshold(self):
        """Lava's threshold alignment (vth << 6), per neuron; recomputed every step (no cache, so
        a vth set between runs takes effect)."""
        self.effective_vth = np.left_shift(self.vth.astype(np.int32), self.vth_shift)

    def spiking_activation(self):
        return self.v > self.effective_vth

    def reset_voltage(self, spike_vector):
        if self.later:  # the subtraction happens in the next step's update
            return
        if self.subtract:
            self.v[spike_vector] -= self.effective_vth[spike_vector]
        else:
            self.v[spike_vector] = 0

    def run_spk(self):
        a_in_data = self.a_in.recv()
        if self.reset_interval and (self.time_step % self.reset_interval
                                    == self.reset_offset % self.reset_interval):
            self.u *= 0
            self.v *= 0
            self.s_prev *= 0
        self.scale_bias()
        self.scale_threshold()
        if self.later:  # Lava's v update adds effective_bias: fold the pending subtraction in
            self.effective_bias = self.effective_bias - self.effective_vth * (self.s_prev != 0)
        self.subthr_dynamics(activation_in=a_in_data)
        s_out = self.spiking_activation()
        self.reset_voltage(spike_vector=s_out)
        self.s_prev[:] = s_out
        self.s_out.send(s_out)
