"""Run the generated RTL in Icarus or Verilator: stimulus file in, spikes with cycle stamps out."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from snncompile import children
from snncompile.backends.fpga.rtl import VERILATOR_FLAGS
from snncompile.errors import SnnCompileError
from snncompile.progress import stage
from snncompile.sim.cycles import CycleTrace, sort_stamps

SIMULATORS = ("icarus", "verilator")
K_SPIKE, K_EOS, K_CLEAR = 0, 1, 2


def encode_input(x: np.ndarray, steps: int, n_in: int, payload_bits: int = 0) -> str:
    """Stimulus words for x (batch, T, n_in): per inference a clear word, then per hw step
    1..steps the spiking axons and an end-of-step word (steps past T carry no spikes). With
    `payload_bits` (analog input), x holds int8 payloads and every non-zero one is a word
    {kind, payload, axon} (zero payloads add nothing, so they are not sent)."""
    ax_w = max(1, (n_in - 1).bit_length())
    lo = ax_w + payload_bits  # the kind field's lowest bit
    digits = (lo + 2 + 3) // 4
    eos, clear = f"{K_EOS << lo:0{digits}x}", f"{K_CLEAR << lo:0{digits}x}"
    x = np.asarray(x).reshape(len(x), x.shape[1], -1)
    mask = (1 << payload_bits) - 1
    lines = []
    for sample in x:
        lines.append(clear)
        for t in range(steps):
            if t < len(sample):
                lines.extend(f"{((int(sample[t, a]) & mask) << ax_w) | int(a):0{digits}x}"
                             for a in np.flatnonzero(sample[t]))
            lines.append(eos)
    return "\n".join(lines) + "\n"


def parse_output(text: str, batch: int, steps: int) -> CycleTrace:
    """The testbench's file as a CycleTrace (see snn_tb.v for the line format)."""
    rows, clear, ends, total, state, adaptive = [], [], [], None, [], []
    sample, step = -1, 0
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "R":
            clear.append(int(f[1]))
            ends.append([])
            sample, step = sample + 1, 1
        elif f[0] == "E":
            ends[-1].append(int(f[1]))
            step += 1
        elif f[0] in ("U", "A"):  # u, v (every core) or theta, r (ATRLIF cores) after a tick
            (state if f[0] == "U" else adaptive).append(
                (sample, step, int(f[2]), int(f[3]), int(f[4]), int(f[5])))
        elif f[0] == "T":
            total = int(f[1])
        else:
            rows.append((int(f[0]), int(f[1]), int(f[2]), sample, step))
    if total is None or len(clear) != batch or any(len(e) != steps for e in ends):
        raise SnnCompileError(f"RTL simulation ended early: {len(clear)} of {batch} inferences, "
                              f"total line {'present' if total is not None else 'missing'}")
    return CycleTrace(sort_stamps(np.array(rows, dtype=np.int64)), np.array(clear, np.int64),
                      np.array(ends, np.int64).reshape(batch, steps), total,
                      np.array(state, np.int64).reshape(-1, 6) if state else None,
                      np.array(adaptive, np.int64).reshape(-1, 6) if adaptive else None)


# synaptic events (batch x hw steps x synapses) from which Verilator's one-off C++ compile (about
# 8 s) pays off: digits' 360 samples (31 M events) ran in 10.5 s in Verilator, in 324 s in
# Icarus (about 0.1 M events/s)
VERILATOR_FROM = 1_000_000


def default_simulator(work: float = float("inf")) -> str:
    """Verilator when installed and the run has `work` synaptic events enough to repay its
    compile, else Icarus (a few samples: Icarus starts in a second, Verilator compiles C++)."""
    return "verilator" if shutil.which("verilator") and work >= VERILATOR_FROM else "icarus"


def check_icarus_work(work: float, where: str) -> None:
    """An Icarus run over its budget (about ten minutes) is refused with the numbers, before it
    starts, instead of running for hours."""
    from snncompile.limits import BudgetError, require

    try:
        require("icarus_work", work, where)
    except BudgetError as exc:
        raise BudgetError(f"{exc}; --simulator verilator runs it about 30x faster") from None


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SnnCompileError(f"{name} is not installed (apt-get install -y "
                              "--no-install-recommends iverilog verilator yosys)")
    return path


def _sources(rtl: Path) -> list[str]:
    return ["snn_tb.v", "snn_top.v", "snn_fifo.v",
            *sorted((p.name for p in rtl.glob("snn_core*.v")), key=lambda n: (len(n), n))]


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SnnCompileError(f"{what} failed: {' | '.join(tail)}")


def build(rtl: Path, work: Path, simulator: str = "icarus", state_dump: bool = False) -> list[str]:
    """Compile the testbench + RTL in `work` (Verilator: once; reused while the binary exists);
    return the command that runs it. `state_dump` adds every neuron's u, v per tick."""
    rtl, work = Path(rtl).resolve(), Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    files = [str(rtl / n) for n in _sources(rtl)]
    if simulator == "icarus":
        out = work / "sim.vvp"
        flags = ["-DSNN_STATE_DUMP"] if state_dump else []
        cmd = [_tool("iverilog"), "-g2005", *flags, "-s", "snn_tb", "-o", str(out), *files]
        _check(children.run(cmd), "iverilog")
        return [_tool("vvp"), "-n", str(out)]
    if simulator == "verilator":
        obj = work / ("obj_dir_state" if state_dump else "obj_dir")
        binary = obj / "snn_sim"
        if not binary.exists():
            flags = ["-DSNN_STATE_DUMP"] if state_dump else []
            cmd = [_tool("verilator"), *VERILATOR_FLAGS.split(), *flags, "-j", "2", "-Mdir",
                   str(obj), "-o", "snn_sim", *files]
            _check(children.run(cmd), "verilator")
        return [str(binary)]
    raise SnnCompileError(f"unknown simulator {simulator!r} (choose {', '.join(SIMULATORS)})")


def simulate(rtl: Path, work: Path, x: np.ndarray, steps: int, n_in: int,
             simulator: str = "icarus", command: list[str] | None = None,
             state_dump: bool = False, payload_bits: int = 0) -> CycleTrace:
    """Run x (batch, T, n_in) for `steps` hw steps per inference; the RTL's spikes and cycles
    (`payload_bits`: x holds an analog input's int8 payloads, encode_input)."""
    work = Path(work).resolve()
    with stage(f"{simulator} build"):
        command = command or build(rtl, work, simulator, state_dump)
    (work / "input.hex").write_text(encode_input(x, steps, n_in, payload_bits))
    out = work / "spikes.txt"
    out.unlink(missing_ok=True)
    with stage(f"RTL simulation ({simulator})"):
        proc = children.run([*command, f"+input={work / 'input.hex'}", f"+output={out}"],
                            cwd=str(Path(rtl).resolve()))
    _check(proc, f"{simulator} simulation")
    if not out.exists():
        raise SnnCompileError(f"{simulator} simulation wrote no output file")
    return parse_output(out.read_text(), len(x), steps)
