"""The emulator against its peers, in ONE run so the ratios are comparable: Lava 0.10.0 fixed_pt
(run only, batch 1), snncompile's emulator, snnTorch, Norse, a plain torch step loop (float32)
and the f32 matmul bound, on the dense CUBA 128-512-256-10 net (T = 500, integer weights), the
NIR-paper CNN and the braille RNN, at batch 1, 8, 64, 256. Every contender runs on one thread.
Before timing, the emulator's spikes, u and v of every layer are checked equal to Lava's on the
same net (a short run with probes): the timed emulator is the bit-exact one.

The float contenders run the same architecture and weights (snnTorch `Synaptic` / Norse `LIF`
for the dense net; for the CNN and RNN each framework's modules built by hand from the NIR file's
weights, `nir_peers.py`, since snnTorch 1.0.0's and Norse 1.1.0's own NIR imports do not run them
at every batch; their output spikes are checked equal to the float reference's first); their
spikes are not expected to equal Lava's (float, other decay rules). The machine may
be shared and this VM's own throughput drifts by up to 40 % between minutes, so each repeat times
every contender back to back (Lava's 50 steps first) and a ratio is the median over the repeats
of the ratio within one repeat; a time is the median of --repeat.

    python benchmarks/vs_peers.py [--repeat 5] [--nets dense,cnn,rnn] [--batches 1,8,64,256]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np
import torch

from snncompile import api
from snncompile.backends import loihi2
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import run_emulator, simulate
from snncompile.sim.lava_params import effective_weights
from snncompile.sim.timing import latency

REPO = Path(__file__).resolve().parents[1]
NIR = REPO / "tests" / "data" / "nir-paper"
DENSE = (128, 512, 256, 10)
DU, DV, VTH = 1024, 256, 600  # hw.LIF parameters of the dense net (decays out of 4096)


# -- the nets ------------------------------------------------------------------------------------
def dense_graph(seed: int = 0) -> Graph:
    """Dense CUBA 128-512-256-10 as an hw graph: 8-bit mixed-sign integer weights, leaky u and v."""
    rng = np.random.default_rng(seed)
    nodes: dict = {"in": hw.SpikeInput(shape=(DENSE[0],))}
    edges, prev = [], "in"
    for k, (n_in, n_out) in enumerate(itertools.pairwise(DENSE)):
        zero = np.zeros(n_out, np.int64)
        nodes[f"w{k}"] = hw.Dense(weights=rng.integers(-60, 80, (n_out, n_in)) * 2)
        nodes[f"lif{k}"] = hw.LIF(shape=(n_out,), du=DU, dv=DV, vth=VTH, bias_mant=zero,
                                  bias_exp=zero)
        edges += [(prev, f"w{k}"), (f"w{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["out"] = hw.SpikeOutput(shape=(DENSE[-1],))
    edges.append((prev, "out"))
    return check(Graph(level="hw", nodes=nodes, edges=tuple(edges)))


def dense_peers(g: Graph) -> dict:
    """Float32 step loops over the same weights: snnTorch Synaptic, Norse LIF, plain torch."""
    import norse.torch as norse
    import snntorch as snn

    ws = [torch.tensor(effective_weights(g.nodes[f"w{k}"]), dtype=torch.float32)
          for k in range(3)]
    alpha, beta, thr = 1 - (DU + 1) / 4096, 1 - DV / 4096, VTH / 64.0

    def linears():
        layers = []
        for w in ws:
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
            lin.weight.data = w / 64.0
            layers.append(lin)
        return layers

    lins = linears()
    syn = [snn.Synaptic(alpha=alpha, beta=beta, threshold=thr) for _ in ws]

    def snntorch_run(x):  # x (T, B, 128)
        state = [s.init_synaptic() for s in syn]
        out = []
        for t in range(len(x)):
            h = x[t]
            for k in range(3):
                h, state[k] = _syn_step(syn[k], lins[k](h), state[k])
            out.append(h)
        return torch.stack(out)

    params = norse.LIFParameters(tau_syn_inv=torch.tensor((DU + 1) / 4096 * 1000),
                                 tau_mem_inv=torch.tensor(DV / 4096 * 1000),
                                 v_th=torch.tensor(thr), v_leak=torch.tensor(0.0),
                                 v_reset=torch.tensor(0.0))
    seq = norse.SequentialState(*[m for lin in linears() for m in (lin, norse.LIF(params))])

    def norse_run(x):
        return seq(x)[0]

    wts = [(w / 64.0).T.contiguous() for w in ws]

    def torch_run(x):
        batch = x.shape[1]
        i = [torch.zeros(batch, w.shape[1]) for w in wts]
        v = [torch.zeros(batch, w.shape[1]) for w in wts]
        out = []
        for t in range(len(x)):
            h = x[t]
            for k, w in enumerate(wts):
                i[k] = alpha * i[k] + h @ w
                v[k] = beta * v[k] + i[k]
                h = (v[k] > thr).float()
                v[k] = v[k] * (1 - h)
            out.append(h)
        return torch.stack(out)

    def bound(x):  # the three products of every (step, sample) row, nothing else
        h = x.reshape(-1, x.shape[2])
        for w in wts:
            h = h @ w
        return h

    return {"snnTorch": snntorch_run, "Norse": norse_run, "plain torch": torch_run,
            "f32 matmul bound": bound}


def _syn_step(neuron, x, state):
    spk, syn, mem = neuron(x, *state)
    return spk, (syn, mem)


# -- Lava ----------------------------------------------------------------------------------------
def lava_check(g: Graph, folder: Path, rng) -> str:
    """Lava's fixed_pt spikes, u and v of every LIF at every step vs the emulator's fast path."""
    x = (rng.random((2, 12, *g.shapes[g.inputs[0]])) < 0.2).astype(np.int8)
    steps = x.shape[1] + latency(g)
    _, probes = loihi2.run_program(folder, x, probes=True, timeout=900)
    emu = simulate(g, x, steps, record=True)
    spikes = 0
    for layer in g.of_kind("neuron"):
        for kind, got in (("s", emu.spikes), ("u", emu.u), ("v", emu.v)):
            np.testing.assert_array_equal(probes[f"{kind}:{layer}"], got[layer],
                                          err_msg=f"{kind} of {layer} differs from Lava")
        spikes += int(emu.spikes[layer].sum())
    assert spikes > 0, "no spike in the Lava check: it would prove little"
    return f"equal ({spikes} spikes, {len(g.of_kind('neuron'))} layers, {steps} steps, batch 2)"


@contextlib.contextmanager
def lava_stepper(folder: Path, rng, runs: int, steps: int = 50):
    """A function giving the seconds per hw step of one Lava fixed_pt run of `steps` steps alone
    (batch 1), up to `runs` times: the network is built and compiled by a first short run, and
    stays up between calls so that each call can sit next to the emulator's own timing."""
    spec = importlib.util.spec_from_file_location("run_lava_bench", folder / "run_lava.py")
    prog = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prog)
    nodes, edges, attrs = prog.read_graph(str(folder / "model.net"))
    shapes = {k: tuple(v) for k, v in json.loads(attrs["shapes"]).items()}
    (in_name,) = [n for n, (op, _) in nodes.items() if op in ("SpikeInput", "GradedInput")]
    (out_name,) = [n for n, (op, _) in nodes.items() if op == "SpikeOutput"]
    out_src = next(a for a, b in edges if b == out_name)
    total = steps * (runs + 2)
    lifs = {n: (int(p.get("reset_interval", 0)), int(p.get("reset_offset", 0)))
            for n, (op, p) in nodes.items() if op == "LIF"}
    _, plan = prog.plan_period(lifs, total)
    in_shape = shapes[in_name]
    data = (rng.random((*in_shape, total)) < 0.2).astype(np.int32)
    if len(in_shape) == 3:
        data = data.transpose(2, 1, 0, 3)
    source, *_ = prog.build(nodes, edges, shapes, data, total, plan, False, out_src)
    cfg = prog.Loihi2SimCfg(select_tag="fixed_pt")

    def step_time() -> float:
        start = time.perf_counter()
        source.run(condition=prog.RunSteps(num_steps=steps), run_cfg=cfg)
        return (time.perf_counter() - start) / steps

    try:
        source.run(condition=prog.RunSteps(num_steps=steps), run_cfg=cfg)
        yield step_time
    finally:
        source.stop()


# -- one net -------------------------------------------------------------------------------------
def measure(label: str, g: Graph, peers: dict, big_t: int, batches: list[int], repeat: int,
            rng) -> tuple[list[dict], str]:
    """Each repeat times Lava (batch 1), the emulator and every peer back to back, so that a
    ratio (the median of the per-repeat ratios) compares runs that shared the machine's state:
    this VM's own throughput drifts by up to 40 % between minutes."""
    in_shape = g.shapes[g.inputs[0]]
    lava_row: dict = {"net": label, "contender": "Lava 0.10.0 fixed_pt, run only"}
    emu_row: dict = {"net": label, "contender": "snncompile emulator", "ratio": {}}
    peer_rows = {name: {"net": label, "contender": name, "ratio": {}} for name in peers}
    with tempfile.TemporaryDirectory() as tmp:
        loihi2.write(g, Path(tmp))
        check_line = lava_check(g, Path(tmp), rng)
        with lava_stepper(Path(tmp), rng, len(batches) * repeat) as lava_step:
            lava_times = []
            for b in batches:
                x = (rng.random((b, big_t, *in_shape)) < 0.1).astype(np.int8)
                xt = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1))).float()
                contenders = {"emu": functools.partial(run_emulator, g, x),
                              **{name: functools.partial(fn, xt) for name, fn in peers.items()}}
                times = {name: [] for name in contenders}
                lavas = []
                with torch.no_grad():
                    for fn in contenders.values():
                        fn()  # warm-up (numba / torch first-call costs)
                    for _ in range(repeat):
                        lavas.append(lava_step())
                        for name, fn in contenders.items():
                            start = time.perf_counter()
                            fn()
                            times[name].append((time.perf_counter() - start) / (b * big_t))
                lava_times += lavas
                for row, name in ((emu_row, "emu"), *((peer_rows[n], n) for n in peers)):
                    row[b] = statistics.median(times[name]) * 1e6
                    # Lava over the emulator; each peer over the emulator
                    over, under = (lavas, times["emu"]) if name == "emu" else (times[name],
                                                                               times["emu"])
                    row["ratio"][b] = statistics.median(a / e for a, e in zip(over, under))
    lava_row[batches[0]] = statistics.median(lava_times) * 1e6
    return [lava_row, emu_row, *peer_rows.values()], check_line


def table(rows: list[dict], batches: list[int]) -> str:
    lines = ["| net | contender | " + " | ".join(f"batch {b}" for b in batches) + " |",
             "|---|---|" + "---|" * len(batches)]
    by_net: dict = {}
    for r in rows:
        by_net.setdefault(r["net"], {})[r["contender"]] = r
    for net, rs in by_net.items():
        for name, r in rs.items():
            cells = []
            for b in batches:
                t = r.get(b)
                if t is None:
                    cells.append("-")
                elif name == "snncompile emulator":
                    cells.append(f"{t:,.2f} ({r['ratio'][b]:,.0f}x Lava)")
                elif name.startswith("Lava"):
                    cells.append(f"{t:,.0f}")
                else:
                    cells.append(f"{t:,.2f} (emu {r['ratio'][b]:.2f}x faster)" if not
                                 name.startswith("f32")
                                 else f"{t:,.2f} (emu at {1 / r['ratio'][b]:.1f}x)")
            lines.append(f"| {net} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(repeat: int, nets: list[str], batches: list[int], big_t: int) -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import numba

    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    from nir_peers import agreement, cnn_peers, rnn_peers  # beside this script

    rows, checks, floats = [], [], []
    if "dense" in nets:
        g = dense_graph()
        r, c = measure("dense CUBA 128-512-256-10", g, dense_peers(g), big_t, batches, repeat, rng)
        rows += r
        checks.append(f"dense: {c}")
        print(table(r, batches), flush=True)
    for key, path in (("cnn", NIR / "02_cnn" / "cnn_sinabs.nir"),
                      ("rnn", NIR / "03_rnn" / "braille_noDelay_bias_zero.nir")):
        if key in nets:
            nn = api.load(path)
            g, _ = api.lower(nn, "emu")
            peers = cnn_peers(path) if key == "cnn" else rnn_peers(path, float(nn.dt))
            floats.append(f"{key}: {agreement(path, peers, rng)}")
            r, c = measure(f"NIR-paper {key.upper()}", g, peers, big_t // 5, batches, repeat, rng)
            rows += r
            checks.append(f"{key}: {c}")
            print(table(r, batches), flush=True)
    print(f"µs per sample-step (lower is better), median of {repeat}; ratios: medians of the "
          "per-repeat ratios\n")
    print(table(rows, batches))
    print("\nemulator vs Lava fixed_pt, spikes/u/v of every layer at every step: "
          + "; ".join(checks))
    if floats:
        print("float contenders vs the float reference (float32), output spikes of 4 samples x 60 "
              "steps: " + "; ".join(floats))
    print(f"\n(one thread each; {sys.platform}, Python {sys.version.split()[0]}, "
          f"torch {torch.__version__}; T = {big_t} for the dense net, {big_t // 5} for CNN/RNN)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nets", default="dense,cnn,rnn")
    parser.add_argument("--batches", default="1,8,64,256")
    parser.add_argument("--steps", type=int, default=500, help="T of the dense net")
    args = parser.parse_args()
    main(args.repeat, args.nets.split(","), [int(b) for b in args.batches.split(",")], args.steps)
