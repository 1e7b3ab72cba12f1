"""The CLI as a user meets it: compile, run, verify on the shipped digits model; errors are one
sentence with a non-zero exit, and a failed compile leaves no output folder behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


def snncompile(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snncompile.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=300, check=False,
    )


def assert_one_sentence_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_compile_run_verify_digits(tmp_path, digits_inputs):
    x_path, y_path = digits_inputs
    build = tmp_path / "build"
    result = snncompile(DIGITS, "--target", "emu", "-o", build)
    assert result.returncode == 0, result.stderr
    assert "neurons" in result.stdout  # the summary table
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["target"] == "emu" and manifest["input_shape"] == [64]
    assert (build / "model.hw.txt").read_text().startswith("snncompile-ir 1 level=hw")

    out = tmp_path / "y_hat.npy"
    result = snncompile("run", build, "--input", x_path, "-o", out)
    assert result.returncode == 0, result.stderr
    spikes = np.load(out)
    assert spikes.shape == (360, 16, 10) and spikes.any()

    result = snncompile("verify", DIGITS, "--input", x_path, "--labels", y_path, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and report["float_accuracy"] > 80
    assert abs(report["float_accuracy"] - report["hw_accuracy"]) <= 1.0 + 1e-9
    assert {layer["name"] for layer in report["layers"]} >= {"output"}
    assert report["source_agreement"] == 1.0  # the trained torch model itself, on the same input
    assert report["checks"][0]["name"] == "source vs float reference mismatch"


def test_verify_fails_past_tolerance(digits_inputs):
    x_path, _ = digits_inputs
    result = snncompile("verify", DIGITS, "--input", x_path, "--max-count-error", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout


def test_missing_model_is_one_sentence(tmp_path):
    result = snncompile(tmp_path / "nope.nir", "-o", tmp_path / "b")
    assert_one_sentence_error(result, "nope.nir")
    assert not (tmp_path / "b").exists()


def test_unknown_suffix_and_target(tmp_path):
    bad = tmp_path / "model.xyz"
    bad.write_text("hello")
    assert_one_sentence_error(snncompile(bad), "model.xyz")
    assert_one_sentence_error(snncompile(DIGITS, "--target", "nochip"), "nochip")


def test_wrong_input_shape_names_the_shapes(tmp_path):
    build = tmp_path / "build"
    assert snncompile(DIGITS, "-o", build).returncode == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 5, 63), dtype=np.int8))
    result = snncompile("run", build, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert_one_sentence_error(result, "(2, 5, 63)", "64")
    assert not (tmp_path / "y.npy").exists()


def test_failed_compile_leaves_no_output_folder(tmp_path):
    """A model the target cannot hold fails with the node's name and writes nothing."""
    import nir

    graph = nir.NIRGraph.from_list(
        nir.Affine(np.ones((2, 3)), np.zeros(2)),
        nir.LIF(tau=np.ones(2) * 1e-2, r=np.ones(2), v_leak=np.zeros(2),
                v_threshold=np.ones(2), v_reset=np.full(2, 0.5)),
    )
    path = tmp_path / "reset.nir"
    nir.write(path, graph)
    out = tmp_path / "build"
    result = snncompile(path, "-o", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "v_reset" in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["reset.nir"]


def test_refuses_to_overwrite_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    result = snncompile(DIGITS, "-o", tmp_path)
    assert_one_sentence_error(result, "not an snncompile build folder")
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_strict_run_reports_layer_and_step(tmp_path, third_party):
    """Driving every braille input at once saturates v; strict mode names layer and steps,
    exit 1."""
    build = tmp_path / "build"
    assert snncompile(third_party / "nir-paper/03_rnn/braille_noDelay_bias_zero.nir",
                      "-o", build).returncode == 0
    np.save(tmp_path / "ones.npy", np.ones((2, 20, 12), dtype=np.int8))
    args = ("run", build, "--input", tmp_path / "ones.npy", "-o", tmp_path / "y.npy")
    assert snncompile(*args).returncode == 0  # not strict: runs, says nothing
    result = snncompile(*args, "--strict")
    assert result.returncode == 1, result.stderr
    assert "v_saturation" in result.stdout and "lif1.lif" in result.stdout
    quiet = np.zeros((2, 20, 12), dtype=np.int8)
    np.save(tmp_path / "zeros.npy", quiet)
    result = snncompile("run", build, "--input", tmp_path / "zeros.npy", "-o", tmp_path / "z.npy",
                        "--strict")
    assert result.returncode == 0 and "0 overflow event(s)" in result.stdout
    model = third_party / "nir-paper/03_rnn/braille_noDelay_bias_zero.nir"
    result = snncompile("verify", model, "--input", tmp_path / "ones.npy", "--strict", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["overflows"] and {e["layer"] for e in report["overflows"]} == {"lif1.lif"}
    assert all(e["nn_step"] == e["hw_step"] - 1 for e in report["overflows"])  # depth 1
    relaxed = snncompile("verify", model, "--input", tmp_path / "ones.npy", "--json")
    assert relaxed.returncode == 0 and json.loads(relaxed.stdout)["overflows"] == []


def test_bad_arrays_are_one_sentence(tmp_path):
    build = tmp_path / "build"
    assert snncompile(DIGITS, "-o", build).returncode == 0
    (tmp_path / "text.npy").write_text("not an array")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "floats.npy", np.full((1, 4, 64), 0.5))
    np.save(tmp_path / "ok.npy", np.zeros((1, 4, 64), dtype=np.int8))
    cases = [("text.npy", "not a .npy file"), ("objects.npy", "does not unpickle"),
             ("floats.npy", "binary spikes")]
    for name, words in cases:
        result = snncompile("run", build, "--input", tmp_path / name, "-o", tmp_path / "y.npy")
        assert_one_sentence_error(result, name if name != "floats.npy" else "", words)
    result = snncompile("run", build, "--input", tmp_path / "ok.npy",
                        "-o", tmp_path / "missing" / "y.npy")
    assert_one_sentence_error(result, "cannot write output file")
    assert not (tmp_path / "y.npy").exists()


def test_summary_counts_connections(tmp_path):
    """The compile table's synapses are connections (non-zero weights), not synapse objects."""
    from snncompile import api

    result = api.compile_model(DIGITS)
    rows = {row["layer"]: row for row in result.summary()}
    dense = {n: op for n, op in result.hw_graph.nodes.items() if type(op).__name__ == "Dense"}
    total = sum(int(np.count_nonzero(op.weights)) for op in dense.values())
    assert sum(row["synapses"] for row in rows.values()) == total > 4000
    assert list(next(iter(rows.values())))[:3] == ["layer", "neurons", "synapses"]


def test_cli_refuses_a_pickle_that_would_run_code(tmp_path):
    """The classic exploit through the user's front door: refused by name, nothing runs or is
    written; the same file with --trust-pickle does run it (so the refusal is what protected us)."""
    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    payload = (f"import torch, os\n"
               f"class X:\n"
               f"    def __reduce__(self): return (os.system, ('touch {marker}',))\n"
               f"torch.save({{'format': 'snncompile-torch/1', 'model': X()}}, '{evil}')\n")
    subprocess.run([sys.executable, "-c", payload], check=True, timeout=120)
    result = snncompile(evil, "-o", tmp_path / "build")
    assert_one_sentence_error(result, "evil.pt", "system", "--trust-pickle")
    assert not marker.exists() and not (tmp_path / "build").exists()
    snncompile(evil, "--trust-pickle", "-o", tmp_path / "build")
    assert marker.exists()


def test_weight_split_through_the_cli(tmp_path, digits_inputs):
    x_path, y_path = digits_inputs
    build = tmp_path / "build"
    assert snncompile(DIGITS, "--weight-split", "-o", build).returncode == 0
    assert '"0.fine" Dense' in (build / "model.hw.txt").read_text()
    result = snncompile("verify", DIGITS, "--input", x_path, "--labels", y_path, "--weight-split",
                        "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["output_agreement"] > 0.98
