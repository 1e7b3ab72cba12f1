"""NeuroBench's trained keyword-spotting SNN (tests/data/neurobench, from the neurobench 0.1.0
wheel): the architecture of the wheel's `neurobench/examples/gsc.py`, with its state_dict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import snntorch
import torch
from snntorch import surrogate
from torch import nn

STEPS = 200  # NeuroBench's S2S processor: 200 steps of 20 MFCC-like features per sample
PUBLISHED_DENSE = 29_030_400  # NeuroBench's dense synaptic operations per sample
LAYERS = ("2", "4", "6", "8")  # gsc_net's Leaky layers, the output last


def gsc_net(third_party: Path) -> nn.Sequential:
    beta, grad = 0.9, surrogate.fast_sigmoid()

    def leaky(**kw):
        return snntorch.Leaky(beta=beta, spike_grad=grad, init_hidden=True, **kw)

    net = nn.Sequential(nn.Flatten(), nn.Linear(20, 256), leaky(), nn.Linear(256, 256), leaky(),
                        nn.Linear(256, 256), leaky(), nn.Linear(256, 35), leaky(output=True))
    state = torch.load(third_party / "neurobench" / "s2s_gsc_snntorch", map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state)
    return net.eval()


def mfcc_like(batch: int, steps: int, seed: int = 0) -> np.ndarray:
    """Deterministic MFCC-like features (batch, steps, 20), no download: Gaussian noise smoothed
    over 9 steps (a Hann window, as frames overlap), scaled per coefficient from 1.0 down to 0.3
    (cepstral coefficients shrink with their index; mean 0, unit scale as after the usual
    per-coefficient normalisation)."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0.0, 1.0, (batch, steps + 8, 20))
    window = np.hanning(9)
    window /= np.sqrt((window**2).sum())  # unit variance after smoothing
    smooth = np.zeros((batch, steps, 20))
    for k, w in enumerate(window):
        smooth += w * raw[:, k:k + steps]
    return (smooth * np.linspace(1.0, 0.3, 20)).astype(np.float32)


def signed_events(features: np.ndarray, theta: float = 0.7) -> np.ndarray:
    """NeuroBench's S2S-style signed events (-1/0/+1) from features by delta modulation: +1 when
    a feature has risen theta above its last reported level, -1 when it has fallen theta below
    it (theta 0.7 on mfcc_like: about 16 % of the entries are events); levels start at 0."""
    from gsc_speech import delta_modulate

    return delta_modulate(features, theta, np.zeros((features.shape[0], features.shape[2])))


def neurobench_class(spikes: np.ndarray) -> np.ndarray:
    """NeuroBench's prediction rule, as its 0.1.0 wheel codes it
    (`neurobench/accumulators/accumulator.py`, `choose_max_count`): torch's
    `spikes.sum(1).argmax(1)` over (batch, steps, classes), a tie going to the first index."""
    return torch.as_tensor(np.asarray(spikes, np.float32)).sum(1).argmax(1).numpy()


def on_input_grid(x: np.ndarray, rng: float, bits: int = 8) -> np.ndarray:
    """x as the chip receives it: rounded to the analog input's grid (rng / qmax, clipped),
    back in real units (numpy, independent of the compiler's AnalogInput)."""
    qmax = (1 << (bits - 1)) - 1
    step = rng / qmax
    return (np.clip(np.rint(x / step), -qmax, qmax) * step).astype(np.float32)


def snntorch_layers(third_party: Path, x: np.ndarray) -> tuple[dict, dict]:
    """snnTorch's spikes and membranes per Leaky layer (LAYERS) of the trained model, fresh state,
    stepped one step at a time on x (batch, T, 20): the source side the tests and benchmarks
    compare the emulator with (layer_trace.run_stepwise)."""
    from layer_trace import run_stepwise

    import snncompile.nn as snc

    net = gsc_net(third_party)
    snc.reset_state(net)
    return run_stepwise(net, x, lambda m, h: m.mem, names=LAYERS)


def snntorch_output(net: nn.Sequential, x: np.ndarray, dtype=torch.float32) -> np.ndarray:
    """The output layer's spikes (batch, T, 35) of snnTorch's forward from a fresh state, stepped
    one step at a time in `dtype` (the net's parameters must have it already)."""
    import snncompile.nn as snc

    snc.reset_state(net)
    steps = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            out = net(torch.as_tensor(x[:, t], dtype=dtype))
            steps.append((out[0] if isinstance(out, tuple) else out).float().numpy())
    return np.stack(steps, 1)


def with_beta(net: nn.Sequential, beta: float) -> nn.Sequential:
    """The net with every Leaky's decay set to beta (e.g. the 12-bit decay a chip holds)."""
    for m in net:
        if isinstance(m, snntorch.Leaky):
            m.beta = torch.tensor(beta)
    return net


def in_float64(net: nn.Sequential) -> nn.Sequential:
    """The net in float64 (snnTorch's surrogate returns float32 spikes: cast them back up)."""
    net = net.double()
    for m in net:
        if isinstance(m, nn.Linear):
            m.register_forward_pre_hook(lambda _m, args: (args[0].double(),))
    return net
