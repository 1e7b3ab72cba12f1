"""benchmarks/nir_peers.py: the hand-built float32 contenders of vs_peers (plain torch, snnTorch,
Norse) compute the same nets as the float reference, so their timings compare like with like."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.nir_peers import cnn_peers, mismatches, rnn_peers
from snncompile import api

NIR = Path(__file__).parent / "data" / "nir-paper"


@pytest.mark.parametrize("net", ["cnn", "rnn"])
def test_hand_built_contenders_equal_the_float_reference(net):
    if net == "cnn":
        path = NIR / "02_cnn" / "cnn_sinabs.nir"
        peers = cnn_peers(path)
    else:
        path = NIR / "03_rnn" / "braille_noDelay_bias_zero.nir"
        peers = rnn_peers(path, float(api.load(path).dt))
    found = mismatches(path, peers, np.random.default_rng(1), batch=2, steps=40)
    assert set(found) == {"plain torch", "snnTorch", "Norse"}
    for name, (differ, spikes) in found.items():
        assert spikes > 10, f"{net}: too few reference spikes to compare ({spikes})"
        assert differ == 0, f"{net}: {name} differs from the reference in {differ} entries"
