"""The command line's manners: help on every option, --json on every command, did-you-mean,
--debug / -q / -v anywhere, progress on a terminal only, and fpga runs in Verilator when it is
installed."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from test_cli import DIGITS, assert_one_sentence_error, snncompile

from snncompile.backends.fpga.sim import VERILATOR_FROM, default_simulator
from snncompile.cli import cli


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


def test_every_option_has_help_and_every_command_json():
    missing = [f"{name} {opt.opts[0]}" for name, command in {"(group)": cli, **cli.commands}.items()
               for opt in _options(command) if not (opt.help or "").strip()]
    assert missing == []
    without_json = [name for name, command in cli.commands.items()
                    if "--json" not in {o for opt in _options(command) for o in opt.opts}]
    assert without_json == []


def test_json_output_of_compile_run_estimate_report(tmp_path, digits_inputs):
    x_path, _ = digits_inputs
    x = np.load(x_path)[:4]
    np.save(tmp_path / "x.npy", x)
    build = tmp_path / "build"
    compiled = snncompile(DIGITS, "-o", build, "--json")
    assert compiled.returncode == 0, compiled.stderr
    doc = json.loads(compiled.stdout)
    assert doc["target"] == "emu" and doc["out_dir"] == str(build)
    assert [row["layer"] for row in doc["layers"]] == ["1", "3"] and doc["weight_bits"] == 8
    ran = snncompile("run", build, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--json")
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(ran.stdout)
    y = np.load(tmp_path / "y.npy")
    assert doc["shape"] == list(y.shape) and doc["spikes"] == int(np.count_nonzero(y)) > 0
    est = json.loads(snncompile("estimate", DIGITS, "--json").stdout)
    assert est["energy"]["energy_uj"]["total"] > 0
    rep = snncompile("report", DIGITS, "-t", "emu", "-i", tmp_path / "x.npy",
                     "-o", tmp_path / "r.html", "--json")
    assert rep.returncode == 0, rep.stderr
    assert json.loads(rep.stdout) == {"report": str(tmp_path / "r.html")}
    assert (tmp_path / "r.html").stat().st_size > 1000


@pytest.mark.parametrize("typo, meant", [("verfy", "verify"), ("estmate", "estimate"),
                                         ("rn", "run"), ("reprot", "report")])
def test_a_misspelt_command_says_what_was_meant(tmp_path, typo, meant):
    result = snncompile(typo, "--input", "x.npy", cwd=tmp_path)
    assert_one_sentence_error(result, f"no such command {typo!r}", f"did you mean {meant!r}?")


def test_a_file_named_like_a_command_is_still_a_model(tmp_path):
    (tmp_path / "verfy").write_text("")
    result = snncompile("verfy", cwd=tmp_path)
    assert_one_sentence_error(result, "verfy", "unknown model file type")


def test_debug_quiet_verbose_after_the_subcommand(tmp_path):
    missing = tmp_path / "nope.nir"
    result = snncompile("compile", missing, "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr
    assert "ModelLoadError" in result.stderr and "no such option" not in result.stderr
    assert_one_sentence_error(snncompile("compile", missing), "nope.nir")
    verbose = snncompile(DIGITS, "-v")
    assert verbose.returncode == 0, verbose.stderr
    stages = [line.split(":")[0] for line in verbose.stderr.splitlines()]
    assert stages == ["read the model", "pass lower", "pass discretize", "pass quantize",
                      "pass sparsify"]
    assert snncompile(DIGITS, "-v", "-q").stderr == ""
    assert snncompile(DIGITS).stderr == ""  # not a terminal: no progress


def _on_a_terminal(*args: str) -> str:
    """Run snncompile with stderr on a pseudo-terminal; what the terminal received."""
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen([sys.executable, "-m", "snncompile.cli", *args], stdout=subprocess.PIPE,
                            stderr=child, env=env)
    os.close(child)
    received = b""
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0
    return received.decode(errors="replace")


def test_progress_on_a_terminal_and_quiet_under_q():
    shown = _on_a_terminal(str(DIGITS))
    assert "read the model" in shown  # the live stage list, erased when done (transient)
    assert "read the model" not in _on_a_terminal(str(DIGITS), "-q")


def test_fpga_run_picks_verilator_for_large_runs_and_icarus_for_small_ones(tmp_path,
                                                                           monkeypatch):
    assert default_simulator(VERILATOR_FROM) == "verilator"  # CI installs it (setup-system.sh)
    assert default_simulator(VERILATOR_FROM - 1) == "icarus"  # Verilator's compile would cost more
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert default_simulator(VERILATOR_FROM) == "icarus"
    monkeypatch.undo()
    build = tmp_path / "build"
    assert snncompile(DIGITS, "-t", "fpga", "-o", build).returncode == 0
    for batch, chosen in ((1, "icarus"), (120, "verilator")):  # 4,736 synapses x 18 hw steps
        np.save(tmp_path / "x.npy", np.ones((batch, 16, 64), dtype=np.int8))
        result = snncompile("run", build, "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy",
                            "--cycles-report", tmp_path / "c.json")
        assert result.returncode == 0, result.stderr
        assert json.loads((tmp_path / "c.json").read_text())["simulator"] == chosen
