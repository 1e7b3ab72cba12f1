"""Partition + place + route at scale: time, peak memory and quality on generated and real nets.

    python benchmarks/compile_scale.py            # 10k, 100k, 1M generated + digits + PilotNet
    python benchmarks/compile_scale.py --quick    # skip the 1M network
    python benchmarks/compile_scale.py --dense    # only the dense 33M-weight CLI compile rows
    python benchmarks/compile_scale.py --dense --dense-targets emu   # the emu row alone
    python benchmarks/compile_scale.py --sparse   # sparse 100k neurons x fan-in 100, peak RSS
                                                  # (a hw graph; then a .pt through the CLI)
    python benchmarks/compile_scale.py --sparse --sparse-neurons 20000 --sparse-place loihi2

Generated networks: a 4-channel spike input, 8 conv layers (3x3, padding 1, 12 channels, about 95
synapses per neuron), a sparse 10-neuron Dense readout (40 sources each) with a recurrent Dense.
Only kernels are stored, so a 1M-neuron / 100M-synapse net is a few kilobytes of weights.
Time is wall time of `partition(graph, target)` (split, route, pack, METIS placement, metrics);
peak memory is tracemalloc's peak during a second call (Python and numpy allocations), and the
process's max RSS. Quality: cores over the plain resource lower bound and over the halo-aware
bound (partition/bounds.py, both provable), and spike traffic x hops of the METIS placement over
the layer-order greedy placement of the same cores (uniform rates).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition import partition

PILOTNET = Path(__file__).resolve().parents[1] / "tests/data/lava-dl/pilotnet_lif/network.net"


def generated(neurons: int, layers: int = 8, channels: int = 12, seed: int = 0) -> Graph:
    """A conv stack of about `neurons` neurons with ~95 synapses per neuron, plus a readout."""
    rng = np.random.default_rng(seed)
    side = max(4, round(math.sqrt(neurons / (layers * channels))))
    shape = (channels, side, side)
    zeros = np.zeros(shape, np.int64)
    nodes: dict = {"in": hw.SpikeInput(shape=(4, side, side))}
    edges, prev, c = [], "in", 4
    for i in range(layers):
        nodes[f"conv{i}"] = hw.Conv(weight=rng.integers(-8, 16, (channels, c, 3, 3)),
                                    padding=(1, 1))
        nodes[f"lif{i}"] = hw.LIF(shape, du=4095, dv=0, vth=20, bias_mant=zeros, bias_exp=zeros)
        edges += [(prev, f"conv{i}"), (f"conv{i}", f"lif{i}")]
        prev, c = f"lif{i}", channels
    n_last = channels * side * side
    w = np.zeros((10, n_last), np.int64)
    for row in w:
        row[rng.choice(n_last, 40, replace=False)] = rng.integers(1, 100, 40)
    z10 = np.zeros(10, np.int64)
    nodes.update({"readout": hw.Dense(weights=w),
                  "out_lif": hw.LIF((10,), du=4095, dv=0, vth=50, bias_mant=z10, bias_exp=z10),
                  "rec": hw.Dense(weights=rng.integers(-20, 20, (10, 10))),
                  "output": hw.SpikeOutput(shape=(10,))})
    edges += [(prev, "readout"), ("readout", "out_lif"), ("out_lif", "rec"), ("rec", "out_lif"),
              ("out_lif", "output")]
    return Graph("hw", nodes, edges)


def dense_cli(target: str, layers: tuple[int, ...] = (4096, 4096, 4096, 10)) -> dict:
    """A dense NIR net (4096-4096-4096-10: 33.6M weights) compiled through the CLI, as a user
    does: the wall time of `snncompile MODEL --target T -o BUILD` (Python start-up included), its
    CPU time (user + sys of the process and its children: on a shared, loaded machine the wall
    time measures the load) and the sizes of the build's graph text and arrays."""
    import subprocess
    import tempfile
    from itertools import pairwise

    import nir

    rng = np.random.default_rng(0)
    nodes, edges, prev = {"input": nir.Input(np.array([layers[0]]))}, [], "input"
    for k, (a, b) in enumerate(pairwise(layers)):
        nodes[f"fc{k}"] = nir.Affine(weight=rng.integers(-40, 41, (b, a)) / 100.0,
                                     bias=np.zeros(b))
        nodes[f"lif{k}"] = nir.LIF(tau=np.full(b, 0.02), r=np.ones(b), v_leak=np.zeros(b),
                                   v_threshold=np.ones(b))
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["output"] = nir.Output(np.array([layers[-1]]))
    edges.append((prev, "output"))
    with tempfile.TemporaryDirectory() as tmp:
        path, build = Path(tmp) / "dense.nir", Path(tmp) / "build"
        nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
        t0, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "snncompile.cli", str(path), "--target",
                               target, "-o", str(build)], capture_output=True, text=True,
                              check=False)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        mib = {f.name: f.stat().st_size / 2**20 for f in build.iterdir() if f.is_file()}
    weights = sum(a * b for a, b in pairwise(layers))
    return {"network": f"dense {'-'.join(map(str, layers))}", "target": target,
            "weights": f"{weights:,}", "CLI compile s": round(seconds, 2),
            "CLI CPU s (user+sys)": round(cpu, 2),
            "model.hw.txt MiB": round(mib.get("model.hw.txt", 0), 3),
            "model.hw.npz MiB": round(mib.get("model.hw.npz", 0), 1),
            "build MiB": round(sum(mib.values()), 1)}


def measure(name: str, graph: Graph, target: str, memory: bool = True) -> dict:
    t0 = time.perf_counter()
    p = partition(graph, target)
    seconds = time.perf_counter() - t0
    peak = float("nan")
    if memory:
        tracemalloc.start()
        partition(graph, target)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    m = p.metrics
    lb, halo = m["lower_bound"], m["lower_bound_halo"]
    return {"network": name, "target": target, "neurons": m["neurons"], "synapses": m["synapses"],
            "cores": m["cores"], "chips": m["chips"],
            "lower_bound": f"{max(lb.values())} ({max(lb, key=lb.get)})",
            "halo bound": f"{max(halo.values())} ({max(halo, key=halo.get)})",
            "cores/LB": m["cores_over_lower_bound"], "cores/halo": m["cores_over_halo_bound"],
            "hops vs greedy": m["traffic_hops_vs_greedy"], "seconds": seconds, "peak MiB": peak}


def measured_traffic(graph: Graph, target: str, x: np.ndarray) -> dict:
    """Spike messages x mesh hops with the emulator's real spikes (estimate/traffic.py): the
    default METIS + annealing placement, weighted by every neuron's measured rate, and the same
    search kept on the greedy placement's slots, vs the layer-order greedy placement of the same
    cores. One inference = the frames of x, pipelined (Intel's PilotNet benchmark protocol)."""
    import dataclasses

    from snncompile.estimate.activity import measure as run
    from snncompile.estimate.rates import neuron_rates
    from snncompile.estimate.traffic import traffic
    from snncompile.partition.place import greedy, metis, refine

    act = run(graph, x, pipelined=True)
    p = partition(graph, target, rates=neuron_rates(act))
    src, dst, _, weight = p.core_routes
    n = len(p.cores)
    same = refine(p.mesh, metis(p.mesh, n, src, dst, weight), src, dst, weight, free_slots=False)
    got = {}
    for name, slot_of in (("metis", p.slot_of), ("same", same), ("greedy", greedy(n))):
        t = traffic(act, dataclasses.replace(p, slot_of=slot_of)).totals()
        got[name] = (t["hops_ew"] + t["hops_ns"], t["messages"] - t["host_messages"])
    (hops, inter), (base, _) = got["metis"], got["greedy"]
    return {"target": target, "cores": n, "spike messages / inference": inter,
            "hop-messages METIS": hops, "hop-messages greedy": base,
            "measured hops vs greedy": hops / max(base, 1e-12),
            "same slots vs greedy": got["same"][0] / max(base, 1e-12)}


def sparse_graph(neurons: int = 100_000, fan_in: int = 100, seed: int = 0) -> Graph:
    """input (neurons) -> Sparse (fan_in distinct random sources per neuron) -> LIF (neurons),
    built from CSR arrays directly: no dense neurons x neurons array exists at any point."""
    rng = np.random.default_rng(seed)
    step = max(1, neurons // fan_in - 1)  # distinct offsets: step * (fan_in - 1) < neurons
    cols = np.sort((rng.integers(0, neurons, (neurons, 1)) + np.arange(fan_in) * step) % neurons,
                   axis=1)
    indptr = np.arange(0, neurons * fan_in + 1, fan_in, dtype=np.int64)
    weights = rng.integers(-40, 90, neurons * fan_in)
    zeros = np.zeros(neurons, np.int64)
    nodes = {"in": hw.SpikeInput((neurons,)),
             "syn": hw.Sparse((neurons, neurons), indptr, cols.reshape(-1), weights),
             "lif": hw.LIF((neurons,), du=3000, dv=400, vth=200, bias_mant=zeros,
                           bias_exp=zeros),
             "out": hw.SpikeOutput((neurons,))}
    return Graph("hw", nodes, (("in", "syn"), ("syn", "lif"), ("lif", "out")))


def sparse_row(neurons: int = 100_000, fan_in: int = 100, steps: int = 8,
               place: str | None = None) -> dict:
    """A sparse net of `neurons` x `fan_in` as a user's emu compile and run meet it: build the hw
    graph from CSR arrays and check it, write the emu build (model.hw.txt + npz sidecar + the
    binary image), load the image back as `run` does and run the emulator for `steps` steps
    (input spike rate 0.05); with `place`, also the partitioner's placement on that target (wall
    and CPU time: on a loaded machine the wall time measures the load) and that target's build
    (its back end's files, placement.json and placement.png, as the CLI writes them).
    Wall time per stage and the process's peak RSS (resource.getrusage; run it in a fresh
    process, `--sparse`, so the RSS is this row's alone)."""
    import tempfile

    from snncompile.backends import get_backend
    from snncompile.ir.check import check
    from snncompile.ir.image import load_image
    from snncompile.partition.plot import plot
    from snncompile.sim.emulator import run_emulator
    from snncompile.target import load_target

    times = {}
    t = time.perf_counter()
    g = check(sparse_graph(neurons, fan_in), "sparse benchmark")
    times["build + check s"] = time.perf_counter() - t
    extra = {}
    if place:
        t, cpu = time.perf_counter(), time.process_time()
        p = partition(g, place)
        times[f"place on {place} s"] = time.perf_counter() - t
        times["place CPU s"] = time.process_time() - cpu
        extra = {"cores": p.metrics["cores"], "placed synapses": p.metrics["synapses"]}
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            get_backend(place).write(g, Path(tmp), target=load_target(place), placement=p)
            p.save(Path(tmp) / "placement.json")
            plot(p, Path(tmp) / "placement.png")
            times[f"write {place} build s"] = time.perf_counter() - t
        del p
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        files = get_backend("emu").write(g, Path(tmp))
        times["write emu build s"] = time.perf_counter() - t
        size = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
        t = time.perf_counter()
        g = load_image(Path(tmp) / files["image"])
        x = np.random.default_rng(1).random((1, steps, neurons)) < 0.05
        out = run_emulator(g, x).outputs["out"]
        times[f"load + emulator {steps} steps s"] = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"network": f"sparse {neurons:,} x fan-in {fan_in}", "synapses": neurons * fan_in,
            **extra, **times, "emu build MiB": size, "output spikes": int(out.sum()),
            "peak RSS MiB": rss}


def sparse_model(path: Path, neurons: int = 100_000, fan_in: int = 100, seed: int = 0) -> None:
    """A .pt as a user saves a pruned model: Linear(neurons, neurons) whose weight is a torch
    sparse COO tensor (sparse_graph's columns, float weights) -> snncompile.nn.LIF. The Linear is
    made on the meta device, so its dense weight never exists here either."""
    import torch

    import snncompile.nn as snn

    rng = np.random.default_rng(seed)
    step = max(1, neurons // fan_in - 1)
    cols = np.sort((rng.integers(0, neurons, (neurons, 1)) + np.arange(fan_in) * step) % neurons,
                   axis=1).reshape(-1)
    rows = np.repeat(np.arange(neurons), fan_in)
    weight = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols])),
                                     torch.from_numpy(rng.uniform(-0.1, 0.3, rows.size)
                                                      .astype(np.float32)),
                                     (neurons, neurons), check_invariants=True).coalesce()
    model = torch.nn.Sequential(torch.nn.Linear(neurons, neurons, bias=False, device="meta"),
                                snn.LIF(neurons, beta=0.9))
    model[0].weight = torch.nn.Parameter(weight, requires_grad=False)
    snn.save(model, path, (neurons,))


def _timed(cmd: list[str]) -> tuple[float, float, float]:
    """(wall s, user + sys CPU s, peak RSS MiB) of one command, by /usr/bin/time -v."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".txt") as log:
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", log.name, *cmd], capture_output=True,
                              text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        fields = dict(line.strip().rsplit(": ", 1) for line in log.read().splitlines()
                      if ": " in line)
    cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    return wall, cpu, int(fields["Maximum resident set size (kbytes)"]) / 1024


def sparse_model_row(neurons: int = 100_000, fan_in: int = 100, steps: int = 8,
                     target: str = "emu") -> dict:
    """The sparse net from a model file, as a user meets it: `snncompile compile MODEL.pt
    --target TARGET -o BUILD`, then (emu only: another target's run is its simulator's)
    `snncompile run BUILD -i x.npy -o y.npy` (input spike rate 0.05, `steps` steps), each its
    own process, timed and its peak RSS read by /usr/bin/time."""
    import tempfile

    cli = [sys.executable, "-m", "snncompile.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        model, build = Path(tmp) / "sparse.pt", Path(tmp) / "build"
        sparse_model(model, neurons, fan_in)
        x = np.random.default_rng(1).random((1, steps, neurons)) < 0.05
        np.save(Path(tmp) / "x.npy", x.astype(np.int8))
        c_wall, c_cpu, c_rss = _timed([*cli, "compile", str(model), "--target", target, "-o",
                                       str(build)])
        row = {"network": f"sparse .pt {neurons:,} x fan-in {fan_in}", "target": target,
               "synapses": neurons * fan_in, "model MiB": round(model.stat().st_size / 2**20, 1),
               "CLI compile s": c_wall, "compile CPU s": c_cpu,
               "compile peak RSS MiB": round(c_rss)}
        if target == "emu":
            xs, ys = str(Path(tmp) / "x.npy"), str(Path(tmp) / "y.npy")
            r_wall, r_cpu, r_rss = _timed([*cli, "run", str(build), "-i", xs, "-o", ys])
            row.update({f"CLI run {steps} steps s": r_wall, "run CPU s": r_cpu,
                        "run peak RSS MiB": round(r_rss),
                        "output spikes": int(np.load(ys).sum())})
        else:
            placement = json.loads((build / "placement.json").read_text())["metrics"]
            row["cores"] = placement["cores"]
        row["build MiB"] = sum(f.stat().st_size for f in build.rglob("*") if f.is_file()) / 2**20
    return row


def table(rows: list[dict]) -> str:
    head = list(rows[0])
    fmt = {"neurons": "{:,}", "synapses": "{:,}", "cores/LB": "{:.3f}", "cores/halo": "{:.3f}",
           "hops vs greedy": "{:.2f}", "measured hops vs greedy": "{:.2f}",
           "same slots vs greedy": "{:.2f}",
           "spike messages / inference": "{:,.0f}", "hop-messages METIS": "{:,.0f}",
           "hop-messages greedy": "{:,.0f}",
           "seconds": "{:.2f}", "peak MiB": "{:.1f}", "peak RSS MiB": "{:.0f}",
           "build MiB": "{:.1f}", "emu build MiB": "{:.1f}"}
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(fmt.get(k, "{:.2f}" if k.endswith(" s") else "{}").format(
            r[k]) for k in head) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1M-neuron network")
    ap.add_argument("--targets", default="loihi2,loihi1")
    ap.add_argument("--dense", action="store_true", help="only the dense 33M-weight CLI rows")
    ap.add_argument("--dense-targets", default="emu,loihi2",
                    help="targets of the dense 33M-weight CLI rows")
    ap.add_argument("--sparse", action="store_true",
                    help="only the sparse 100k x fan-in 100 row (run it in its own process: its "
                         "peak RSS is the process's)")
    ap.add_argument("--sparse-neurons", type=int, default=100_000)
    ap.add_argument("--sparse-place", default=None,
                    help="also place the sparse net on this target (the partitioner)")
    args = ap.parse_args(argv)
    if args.sparse:
        print(table([sparse_row(args.sparse_neurons, place=args.sparse_place)]), flush=True)
        # the same net from a model file, through the CLI (compiled for the placed target)
        print(table([sparse_model_row(args.sparse_neurons, target=args.sparse_place or "emu")]))
        return 0
    dense = [dense_cli(t) for t in args.dense_targets.split(",")]
    print(table(dense) + "\n", flush=True)
    if args.dense:
        return 0
    rows = []
    from snncompile import api

    digits = api.lower(api.load(Path(__file__).resolve().parents[1] /
                                "examples/digits/digits.pt"), "emu")[0]
    pilot = api.load(PILOTNET)
    for target in args.targets.split(","):
        rows.append(measure("digits", digits, target))
        rows.append(measure("PilotNet", pilot, target))
    for n in (10_000, 100_000) + (() if args.quick else (1_000_000,)):
        g = generated(n)
        for target in args.targets.split(","):
            rows.append(measure(f"conv stack {n:,}", g, target))
            print(table(rows[-1:]), file=sys.stderr, flush=True)
    print(table(rows))
    from snncompile.estimate.frames import road_frames

    frames = road_frames(4, seed=1)
    x = np.repeat(frames[:, None], 16, axis=1)
    got = [measured_traffic(pilot, t, x) for t in args.targets.split(",")]
    print("\nPilotNet, emulator spikes on 4 generated frames x 16 steps (messages between cores "
          "and from the host):")
    print(table(got))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess max RSS {rss:.0f} MiB (incl. torch and all runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
