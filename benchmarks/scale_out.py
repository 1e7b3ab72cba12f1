"""Scale-out of verify (issue 18): samples per second against workers (1, 2) with local
processes and with Ray, and a model of where the time goes, extrapolated on paper to a
32-node cluster.

Measured on the digits SNN (64-?-10, 16 steps) verified on loihi2, so every sample runs through
the trainer's model, the float reference, the emulator and the generated Lava program:

* per-sample cost of each stage (one process, one batch; Lava also on one sample, which splits
  its cost into a start-up per shard and a cost per sample);
* the Build's serialization (pickle bytes, dumps and loads time; Ray's put);
* scheduling overhead per task: a task that does nothing, 20 of them, with the Build as their
  shared argument and without, in local processes and on Ray;
* verify's wall time and samples/s for 1 and 2 local worker processes and for 1 and 2 Ray tasks
  on a Ray instance started here (two CPUs, loopback only).

    python benchmarks/scale_out.py [--samples 40] [--json out.json]   # Markdown on stdout

Everything runs on this machine; the Ray instance is started by this script on 127.0.0.1 and
stopped at its end (no usage statistics, no dashboard).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on loopback only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np

from snncompile import api
from snncompile.build_folder import run_build, run_source, write_build
from snncompile.engine import LOCAL_RAY, Engine, map_tasks
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"
sys.path.insert(0, str(REPO / "examples" / "digits"))


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def nothing(shared, item):
    """A task that does nothing: what is left is the engine's own cost per task."""
    return item


def stage_costs(build, x: np.ndarray) -> dict[str, float]:
    """Seconds per sample of each per-sample stage of verify, and Lava's start-up per shard."""
    n = x.shape[0]
    costs = {
        "trainer's model (torch)": timed(run_source, build.model, x)[0] / n,
        "float reference": timed(run_reference, build.nn_graph, x.astype(np.float64),
                                 record=True)[0] / n,
        "emulator": timed(run_emulator, build.hw_graph, x, record=True)[0] / n,
    }
    with tempfile.TemporaryDirectory() as tmp:
        write_s, _ = timed(write_build, build, Path(tmp) / "b")
        one_s, _ = timed(run_build, Path(tmp) / "b", x[:1])
        all_s, _ = timed(run_build, Path(tmp) / "b", x)
    per_sample = (all_s - one_s) / (n - 1)
    costs["Lava (generated program), per sample"] = per_sample
    costs["Lava start-up + build folder write, per shard"] = one_s - per_sample + write_s
    return costs


def serialization(build) -> dict[str, float]:
    dumps_s, blob = timed(pickle.dumps, build)
    loads_s, _ = timed(pickle.loads, blob)
    return {"bytes": len(blob), "dumps_s": dumps_s, "loads_s": loads_s}


TASKS = 20


def per_task_overhead(build, engine: Engine, tasks: int = TASKS) -> dict[str, float]:
    """Seconds per empty task: the first round (workers start and import snncompile, torch, to
    unpickle the Build) and then warm rounds (Ray keeps its workers; a local pool is new per
    map, so its rounds are never warm)."""
    items, labels = list(range(tasks)), [f"task {i}" for i in range(tasks)]
    first, _ = timed(map_tasks, nothing, build, items, labels, engine)
    bare, _ = timed(map_tasks, nothing, None, items, labels, engine)
    shipped, _ = timed(map_tasks, nothing, build, items, labels, engine)
    return {"first round, the Build shared": first / tasks, "no shared value": bare / tasks,
            "the Build shared": shipped / tasks}


def verify_rate(build, x, y, **engine) -> tuple[float, str]:
    seconds, report = timed(api.verify_build, build, x, y, **engine)
    return seconds, json.dumps(report.to_dict(), sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    from data import load_split

    _, _, x_all, y_all = load_split()
    x, y = x_all[: args.samples], y_all[: args.samples]
    compile_s, build = timed(api.build, DIGITS, "loihi2")
    out: dict = {"samples": args.samples, "steps": int(x.shape[1]), "compile_s": compile_s,
                 "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    out["stages_s_per_sample"] = stage_costs(build, x)
    out["build_serialization"] = serialization(build)
    out["local_task_overhead_s"] = per_task_overhead(build, Engine(workers=2))
    runs, reports = {}, set()
    for workers in (1, 2):
        seconds, report = verify_rate(build, x, y, workers=workers)
        runs[f"local processes, {workers} worker(s)"] = seconds
        reports.add(report)
    import ray

    ray_start_s, _ = timed(ray.init, address="local", num_cpus=2, include_dashboard=False,
                           log_to_driver=False, logging_level="warning")
    out["ray_start_s"] = ray_start_s
    out["ray_put_build_s"] = timed(ray.put, build)[0]
    out["ray_task_overhead_s"] = per_task_overhead(build, Engine(workers=2, ray=LOCAL_RAY))
    for tasks in (1, 2):
        seconds, report = verify_rate(build, x, y, ray=LOCAL_RAY, shards=tasks)
        runs[f"Ray, {tasks} task(s)"] = seconds
        reports.add(report)
    ray.shutdown()
    out["verify_s"] = runs
    out["reports_identical"] = len(reports) == 1
    out["load_average_after"] = os.getloadavg()
    print_tables(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


#: the paper cluster: nodes, cores (one task each), link to each node, a test set's size, and
#: a NeuroBench-sized net's Lava cost per sample (the issue's 3.4 ms per step, 300 steps)
CLUSTER = {"nodes": 32, "cores_per_node": 8, "link_bytes_per_s": 1.25e9, "samples": 10_000,
           "big_net_s_per_sample": 3.4e-3 * 300}


def model_seconds(out: dict, workers: int, nodes: int, samples: int,
                  per_sample: float | None = None) -> dict[str, float]:
    """Where verify's wall time goes with one shard per worker: compile once; ship the Build
    to each node once; submit one task per worker from the driver (the measured warm Ray cost
    per task, serial on the driver); each worker's first task imports snncompile (in
    parallel), each shard pays Lava's start-up, then its samples' stages (measured, or
    `per_sample`)."""
    stages = out["stages_s_per_sample"]
    if per_sample is None:
        per_sample = sum(v for k, v in stages.items() if "per shard" not in k)
    overhead = out["ray_task_overhead_s"]
    return {
        "compile": out["compile_s"],
        "ship the Build": out["build_serialization"]["bytes"] * nodes
        / CLUSTER["link_bytes_per_s"] + out["ray_put_build_s"],
        "submit tasks": overhead["the Build shared"] * workers,
        # what the first round took beyond a warm one: the workers' start, in parallel
        "worker start": (overhead["first round, the Build shared"]
                         - overhead["the Build shared"]) * TASKS,
        "Lava start-up": stages["Lava start-up + build folder write, per shard"],
        "samples": per_sample * -(-samples // workers),
    }


def print_tables(out: dict) -> None:
    n = out["samples"]
    print(f"digits on loihi2, {n} samples x {out['steps']} steps; compile "
          f"{out['compile_s']:.1f} s; load average {out['load_average'][0]:.1f} before, "
          f"{out['load_average_after'][0]:.1f} after; reports identical: "
          f"{out['reports_identical']}\n")
    print("| engine | verify wall s | samples/s |\n|---|---|---|")
    for name, seconds in out["verify_s"].items():
        print(f"| {name} | {seconds:.1f} | {n / seconds:.2f} |")
    print("\n| stage | ms |\n|---|---|")
    for name, seconds in out["stages_s_per_sample"].items():
        print(f"| {name} | {seconds * 1e3:.1f} |")
    ser = out["build_serialization"]
    print(f"| Build pickle: {ser['bytes'] / 1e3:.0f} kB, dumps | {ser['dumps_s'] * 1e3:.1f} |")
    print(f"| Build pickle loads | {ser['loads_s'] * 1e3:.1f} |")
    print(f"| Ray: start a local instance | {out['ray_start_s'] * 1e3:.0f} |")
    print(f"| Ray: put the Build in the object store | {out['ray_put_build_s'] * 1e3:.1f} |")
    for engine in ("local", "ray"):
        for what, seconds in out[f"{engine}_task_overhead_s"].items():
            print(f"| {engine} engine, per empty task ({TASKS} tasks), {what} | "
                  f"{seconds * 1e3:.1f} |")
    c = CLUSTER
    cluster = f"{c['nodes']} nodes x {c['cores_per_node']} cores"
    big = c["big_net_s_per_sample"]
    rows = [("digits, this machine, 1 worker", 1, 1, n, None),
            ("digits, this machine, 2 workers", 2, 1, n, None),
            ("digits, this machine, 1 worker", 1, 1, c["samples"], None),
            (f"digits, {cluster}", c["nodes"] * c["cores_per_node"], c["nodes"], c["samples"],
             None),
            ("NeuroBench-sized net, this machine, 1 worker", 1, 1, c["samples"], big),
            (f"NeuroBench-sized net, {cluster}", c["nodes"] * c["cores_per_node"], c["nodes"],
             c["samples"], big)]
    columns = ["model", "samples", *model_seconds(out, 1, 1, 1), "total s", "samples/s"]
    print("\n| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    for name, workers, nodes, samples, per_sample in rows:
        parts = model_seconds(out, workers, nodes, samples, per_sample)
        total = sum(parts.values())
        print(f"| {name} | {samples} | " + " | ".join(f"{v:.2f}" for v in parts.values())
              + f" | {total:.1f} | {samples / total:.1f} |")


if __name__ == "__main__":
    main()
