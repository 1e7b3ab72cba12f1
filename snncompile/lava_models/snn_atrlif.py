"""`SnnATRLIF`: Lava's adaptive-threshold neuron (ATRLIF) with per-neuron adaptation constants.

Shipped by snncompile in every loihi2 build (a copy sits in the build's lava_models/ folder; it
imports only numpy and Lava). Lava 0.10.0's `ATRLIF` holds one delta_i, delta_v, delta_theta,
delta_r, theta_0 and theta_step per population (Vars of shape (1,)); co-learned adaptation (and
delay) training gives each neuron its own. This process holds them as vectors of the population's
shape, and its fixed_pt model runs Lava's own `PyATRLIFModelFixed` arithmetic unchanged (its
methods are reused, not copied; Lava forbids subclassing a model that already implements a
process) except the post-spike step, which adds each spiking neuron's own theta_step:

    r[s] += 2 theta[s];   theta[s] += theta_step[s] << 6

so it equals snncompile's emulator (hw.ATRLIF) bit for bit (tests/test_adaptive_per_neuron.py).
Deltas are passed as d / 4096 (exact in float), as the generated program does for Lava's ATRLIF.
It runs in Lava's CPU simulation only: Loihi 2 silicon needs a microcode neuron (docs/loihi2.md).
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.atrlif.models import PyATRLIFModelFixed

FIELDS = ("delta_i", "delta_v", "delta_theta", "delta_r", "theta_0", "theta_step")


class SnnATRLIF(AbstractProcess):
    """ATRLIF population whose deltas (floats d / 4096), theta_0 and theta_step (mantissas) are
    per neuron: arrays of `shape`, or scalars broadcast."""

    def __init__(self, *, shape, delta_i, delta_v, delta_theta, delta_r, theta_0, theta_step,
                 bias_mant, bias_exp, name=None):
        super().__init__(shape=shape, name=name)
        given = {"delta_i": delta_i, "delta_v": delta_v, "delta_theta": delta_theta,
                 "delta_r": delta_r, "theta_0": theta_0, "theta_step": theta_step}
        full = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).copy()
                for k, v in given.items()}
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.bias_mant = Var(shape=shape, init=np.broadcast_to(bias_mant, shape).copy())
        self.bias_exp = Var(shape=shape, init=np.broadcast_to(bias_exp, shape).copy())
        self.i = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)
        self.theta = Var(shape=shape, init=full["theta_0"].astype(np.int64) << 6)
        self.r = Var(shape=shape, init=0)
        self.s = Var(shape=shape, init=0)
        for k in FIELDS:
            setattr(self, k, Var(shape=shape, init=full[k]))


@implements(proc=SnnATRLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySnnATRLIFModelFixed(PyLoihiProcessModel):
    """Lava's PyATRLIFModelFixed update with vector constants and a per-neuron theta_step."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    i: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    theta: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    r: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    s: np.ndarray = LavaPyType(np.ndarray, bool)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    delta_i: np.ndarray = LavaPyType(np.ndarray, float)
    delta_v: np.ndarray = LavaPyType(np.ndarray, float)
    delta_theta: np.ndarray = LavaPyType(np.ndarray, float)
    delta_r: np.ndarray = LavaPyType(np.ndarray, float)
    theta_0: np.ndarray = LavaPyType(np.ndarray, float)
    theta_step: np.ndarray = LavaPyType(np.ndarray, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        # PyATRLIFModelFixed's constants, as its __init__ sets them
        self.ds_offset = 1
        self.isthrscaled = False
        self.effective_bias = 0
        self.iv_bitwidth = 24
        self.max_iv_val = 2 ** (self.iv_bitwidth - 1)
        self.decay_shift = 12
        self.decay_unity = 2 ** self.decay_shift
        self.theta_unity = 2 ** 6
        self.act_unity = 2 ** 6

    subthr_dynamics = PyATRLIFModelFixed.subthr_dynamics
    scale_bias = PyATRLIFModelFixed.scale_bias
    scale_threshold = PyATRLIFModelFixed.scale_threshold
    run_spk = PyATRLIFModelFixed.run_spk

    def post_spike(self, spike_vector: np.ndarray):
        """r[s] += 2 theta[s]; theta[s] += theta_step[s] (Lava adds one shared theta_step)."""
        self.r[spike_vector] = self.r[spike_vector] + 2 * self.theta[spike_vector]
        self.theta[spike_vector] = self.theta[spike_vector] + self.theta_step[spike_vector]
