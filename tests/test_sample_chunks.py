"""run_emulator in sample chunks (sim/sample_chunks.py) equals one whole-batch run: outputs and
per-layer spike counts, on the NIR-paper CNN (layer-major path) and the braille RNN (compiled
step loop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snncompile import api
from snncompile.sim import sample_chunks
from snncompile.sim.emulator import run_emulator

NIR = Path(__file__).parent / "data" / "nir-paper"


@pytest.mark.parametrize("net", ["02_cnn/cnn_sinabs.nir", "03_rnn/braille_noDelay_bias_zero.nir"])
def test_chunked_run_equals_whole_batch(net, monkeypatch):
    g, _ = api.lower(api.load(NIR / net), "emu")
    x = (np.random.default_rng(3).random((7, 12, *g.shapes[g.inputs[0]])) < 0.2).astype(np.int8)
    whole = run_emulator(g, x)
    neurons = sum(int(np.prod(g.shapes[n])) for n in g.of_kind("neuron"))
    monkeypatch.setattr(sample_chunks, "CHUNK_BYTES", neurons * (12 + whole.latency) * 3)
    assert sample_chunks.samples_per_chunk(g, 12 + whole.latency) == 3  # chunks of 3, 3, 1
    chunked = run_emulator(g, x)
    assert whole.spike_counts == chunked.spike_counts
    assert sum(whole.spike_counts.values()) > 0
    for name, spikes in whole.outputs.items():
        np.testing.assert_array_equal(chunked.outputs[name], spikes)
