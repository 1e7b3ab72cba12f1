"""Exhaustiveness: every op type has a rule in every stage that must handle it; a new op fails here
first instead of deep inside a user's compile."""

import pytest

from snncompile.frontends import nir as nir_frontend
from snncompile.frontends import nir_delay
from snncompile.ir import hw_ops, lowered_ops, nn_ops, text
from snncompile.passes import assemble, chain, discretize, neuron_rules
from snncompile.sim import emulator, reference

# nn ops that no NIR file can produce, each with the reason (the list is explicit so that a new
# op cannot skip its NIR reader silently)
NOT_FROM_NIR = {
    "Unflatten": "NIR has no unflatten node; the torch front end's spiking self-attention "
                 "mapping makes it (to_nir refuses it by name)",
    "SparseLinear": "NIR's Linear and Affine hold dense weights (a pruned NIR layer is read dense "
                    "and stored sparse by pass sparsify); the torch front end makes it from a "
                    "sparse-tensor weight",
    "AdaptiveLIF": "NIR has no adaptive-threshold neuron node; it enters through the torch front "
                   "end (snncompile.nn.AdaptiveLIF)",
}


@pytest.mark.parametrize("op", nn_ops.OPS.values(), ids=list(nn_ops.OPS))
def test_every_nn_op_has_every_rule(op):
    assert op in reference.RULES, "reference interpreter"
    assert (op.__name__ in nir_frontend._READERS or op.__name__ in nir_delay.FOLDED
            or op.__name__ in NOT_FROM_NIR), "NIR reader"
    if op.kind == "synapse":
        assert chain.has_rule(op), "lowering of synapse chains"
    elif op.kind == "neuron":
        assert op in discretize.RULES, "discretize"
        assert op in neuron_rules.NEURON_RULES, "quantize"
    else:
        assert op.kind in ("input", "output")


@pytest.mark.parametrize("op", hw_ops.OPS.values(), ids=list(hw_ops.OPS))
def test_every_hw_op_has_an_emulator_rule(op):
    rules = {**emulator.SYNAPSE_RULES, **emulator.NEURON_RULES}
    assert op in rules or op in emulator.IO_OPS


@pytest.mark.parametrize("op", lowered_ops.OPS.values(), ids=list(lowered_ops.OPS))
def test_every_op_between_the_passes_is_read_back_and_quantized(op):
    """--dump-after reads every op lower and discretize make back, and quantize encodes every
    grouped synapse (a Layer must be discretized first: quantize names the pass order)."""
    assert text._OPS["nn"][op.__name__] is op
    if op.kind == "synapse":
        assert op in assemble.GROUPED
    else:
        assert op.kind == "neuron" and issubclass(op, lowered_ops.Layer)
