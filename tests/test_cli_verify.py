"""verify through the command line on a real deployment whose 2-bit weights lose ~40 % of the
output spikes: it FAILs, names the worst layer and says what helps; the same model at 8 bits
PASSes; an empty input and prediction-agreement gating behave as documented."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
from test_cli import assert_one_sentence_error, snncompile


def _lossy_model(path) -> None:
    """Each output neuron: 3 strong inputs and 21 weak ones (1/20 of the strong weight). At 2
    weight bits the weak weights round to zero, and with them about 40 % of the drive."""
    rng = np.random.default_rng(0)
    w = np.zeros((10, 24))
    for o in range(10):
        order = rng.permutation(24)
        w[o, order[:3]], w[o, order[3:]] = 1.0, 0.05
    graph = nir.NIRGraph.from_list(
        nir.Affine(w, np.zeros(10)),
        nir.LIF(tau=np.full(10, 1e-3), r=np.ones(10), v_leak=np.zeros(10),
                v_threshold=np.full(10, 0.25), v_reset=np.zeros(10)))
    nir.write(path, graph)


@pytest.fixture(scope="module")
def lossy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lossy")
    _lossy_model(folder / "lossy.nir")
    x = (np.random.default_rng(1).random((8, 100, 24)) < 0.04).astype(np.int8)
    np.save(folder / "x.npy", x)
    return folder / "lossy.nir", folder / "x.npy"


def test_a_deployment_that_lost_40_percent_of_its_spikes_fails(lossy):
    model, x = lossy
    result = snncompile("verify", model, "--input", x, "--weight-bits", "2", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    (out,) = [layer for layer in report["layers"] if layer["name"] == "output"]
    lost = 1 - out["hw_spikes"] / out["float_spikes"]
    assert 0.3 < lost < 0.5 and out["float_spikes"] > 150, out
    assert 1 - report["output_agreement"] < 0.05  # the old entry-wise gate would PASS this
    assert report["output_count_error"] >= lost  # spikes lost, and none of them made up
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert failed == {"output spike-count error", "output spike-train agreement"}
    assert report["worst_layer"] is not None and any("--weight-bits 8" in a
                                                     for a in report["advice"])
    text = snncompile("verify", model, "--input", x, "--weight-bits", "2")
    assert text.returncode == 1
    assert "FAIL  output spike-count error" in text.stdout
    assert f"worst layer: {report['worst_layer']} " in text.stdout
    assert "may help: --weight-bits 8 (now 2)" in text.stdout
    assert "may help: --weight-split" in text.stdout


def test_the_same_model_at_8_bits_passes(lossy):
    model, x = lossy
    result = snncompile("verify", model, "--input", x, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and report["advice"] == []
    assert report["output_count_error"] < 0.05 and report["output_train_agreement"] > 0.95


def test_prediction_agreement_can_be_gated(lossy):
    model, x = lossy
    args = ("verify", model, "--input", x, "--json")
    gated = json.loads(snncompile(*args, "--min-prediction-agreement", "1.0").stdout)
    (check,) = [c for c in gated["checks"] if c["name"] == "prediction agreement"]
    assert check["limit"] == 1.0 and check["passed"] == (gated["prediction_agreement"] == 1.0)
    assert "prediction agreement" not in {c["name"] for c in json.loads(
        snncompile(*args).stdout)["checks"]}


@pytest.mark.parametrize("shape, words", [((0, 100, 24), "no samples"),
                                          ((8, 0, 24), "no time steps")])
def test_an_empty_input_is_one_sentence(lossy, tmp_path, shape, words):
    model, _ = lossy
    np.save(tmp_path / "empty.npy", np.zeros(shape, dtype=np.int8))
    result = snncompile("verify", model, "--input", tmp_path / "empty.npy", "--reset", "zero")
    assert_one_sentence_error(result, "lossy.nir", str(shape), words)
