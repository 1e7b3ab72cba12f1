"""Quantize's per-neuron-type rules: how each nn neuron op's stepped layer becomes integers.

NEURON_RULES is keyed by the nn neuron op type (tests/test_registries.py: every nn neuron op has
one); `neuron_coeffs` gives the per-neuron threshold and decays the search works in, and
`hw_reset` the hw reset mode with the warnings a reset the target cannot hold exactly needs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir import nn_ops
from snncompile.ir.lowered_ops import SteppedLayer
from snncompile.passes.common import unsupported
from snncompile.target import Target

NAME = "quantize"


@dataclasses.dataclass(frozen=True)
class NeuronRule:
    """How quantize encodes one nn neuron type."""

    current: bool  # its bias enters the synaptic current u (CubaLIF, AdaptiveLIF), not v
    adaptive: bool  # Lava's ATRLIF: one threshold and decay per population (passes/adaptive.py)
    bias_to_clock: bool  # a layer spiking before its input arrives may take its v bias from the
    # bias clock instead (a CubaLIF's bias must stay in its current)


# nn neuron type -> its rule (tests/test_registries.py: every nn neuron op has one)
NEURON_RULES: dict[type, NeuronRule] = {
    nn_ops.IF: NeuronRule(current=False, adaptive=False, bias_to_clock=True),
    nn_ops.LIF: NeuronRule(current=False, adaptive=False, bias_to_clock=True),
    nn_ops.CubaLIF: NeuronRule(current=True, adaptive=False, bias_to_clock=False),
    nn_ops.AdaptiveLIF: NeuronRule(current=True, adaptive=True, bias_to_clock=True),
}


def rule_of(layer: SteppedLayer) -> NeuronRule:
    return NEURON_RULES[type(layer.neuron)]


def neuron_coeffs(name: str, c: SteppedLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron threshold, alpha, beta (float64, flat). A LIF/IF/CubaLIF keeps them per
    neuron: thresholds fold into each neuron's weights and biases (everything is in units of
    the neuron's own threshold, so one integer vth serves every neuron exactly), and decays
    become per-neuron du, dv. AdaptiveLIF likewise: theta_0 folds as the threshold (theta_step
    and the refractory term are in its units), its decays become per-neuron ATRLIF deltas."""
    rule, n = rule_of(c), len(c.gain)
    ones = np.ones(n)
    return (np.broadcast_to(c.threshold, (n,)).astype(np.float64),
            np.broadcast_to(c.alpha, (n,)).astype(np.float64) if rule.current or rule.adaptive
            else ones,
            np.broadcast_to(c.beta, (n,)).astype(np.float64))


def _holds_delayed_subtract(target: Target) -> bool:
    """Whether the target's back end runs hw reset "subtract_next" (snnTorch's delayed
    subtraction, exact); the others get "subtract" in the spiking step and a warning."""
    from snncompile.backends import support

    try:
        return "reset-subtract-next" in support.supported(target.backend)
    except SnnCompileError:  # no support table: the emulator's rules
        return True


def hw_reset(name: str, c: SteppedLayer, target: Target) -> tuple[str, list[str]]:
    """(the hw LIF's reset, warnings): a refused v_reset raises, naming the layer."""
    cuba = rule_of(c).current
    if c.reset == "zero" and np.any(c.v_reset != 0):
        raise unsupported(NAME, name, c.neuron, "v_reset != 0 with reset 'zero' (Loihi resets "
                          "v to 0)")
    warnings: list[str] = []
    if c.reset == "subtract" and c.reset_timing == "next_step":
        if _holds_delayed_subtract(target):  # exact: hw subtracts in the next v update
            return "subtract_next", warnings
        warnings.append("reset_timing 'next_step' with 'subtract': hw subtracts in the "
                        "spiking step; verify measures the deviation")
    elif c.reset_timing == "next_step" and (cuba or np.any(c.v_bias)):
        warnings.append("reset_timing 'next_step' with zero reset: the float model zeroes "
                        f"{'the whole new v' if cuba else 'v before the leak term'} after a "
                        "spike, hw resets in the spiking step; verify measures the deviation")
    return c.reset, warnings
