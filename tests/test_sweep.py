"""`snncompile sweep` (issue 18): the Pareto front is the set no other point dominates, for the
numbers the sweep printed; a point's accuracy is the emulator's, recounted here from its output
spikes; the JSON is byte-identical for 1 and 2 workers; the HTML has the plot and the table;
the target's artefact (Lava) confirms the front; bad grids are one sentence."""

from __future__ import annotations

import inspect
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_inprocess import assert_refused, invoke

from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.sweep.grid import AXES
from snncompile.sweep.pareto import front
from snncompile.target import registry

DIGITS = Path(__file__).parent.parent / "examples" / "digits" / "digits.pt"


@pytest.fixture(scope="module")
def eight(digits_inputs, tmp_path_factory) -> tuple[Path, Path]:
    """The first 8 digits test samples and their labels."""
    x, y = digits_inputs
    folder = tmp_path_factory.mktemp("sweep")
    np.save(folder / "x.npy", np.load(x)[:8])
    np.save(folder / "y.npy", np.load(y)[:8])
    return folder / "x.npy", folder / "y.npy"


def test_front_keeps_exactly_the_undominated_rows():
    rows = [{"accuracy": 90, "energy_uj": 5.0, "cores": 2},   # dominated by 3
            {"accuracy": 95, "energy_uj": 9.0, "cores": 1},   # best accuracy with 1 core
            None,                                             # did not compile
            {"accuracy": 90, "energy_uj": 4.0, "cores": 2},
            {"accuracy": 90, "energy_uj": 4.0, "cores": 2},   # equal to 3: both kept
            {"accuracy": 80, "energy_uj": 4.0, "cores": 3}]   # worse than 3 everywhere
    assert front(rows) == [1, 3, 4]
    assert front([None, None]) == []


def test_every_quantization_option_of_build_is_an_axis():
    """api.build's keywords besides the model, the target and the front end's options are the
    compile options a sweep walks; a new one needs an axis (or a reason in sweep/grid.py)."""
    keywords = set(inspect.signature(api.build).parameters) - {"model", "target",
                                                               "frontend_options"}
    assert keywords == set(AXES)


def _sweep_json(x: Path, y: Path, bits: str, *extra: object) -> str:
    code, out, err = invoke("sweep", DIGITS, "--input", x, "--labels", y, "--weight-bits",
                            bits, "--weight-split", "off", "--json", *extra)
    assert code == 0, err
    return out


def test_digits_sweep_front_accuracy_and_workers(eight, tmp_path):
    x, y = eight
    one = _sweep_json(x, y, "2,4,8", "--no-confirm", "-o", tmp_path / "sweep.html")
    doc = json.loads(one)
    points = doc["points"]
    assert [(p["weight_bits"], p["weight_split"]) for p in points] == [(2, False), (4, False),
                                                                      (8, False)]
    # the front, recomputed from the printed numbers by brute force
    keys = (("accuracy", 1), ("energy_uj", -1), ("cores", -1))
    dominated = {i for i, p in enumerate(points) for q in points
                 if all(s * q[k] >= s * p[k] for k, s in keys)
                 and any(s * q[k] > s * p[k] for k, s in keys)}
    assert doc["pareto"] == [i for i in range(len(points)) if i not in dominated]
    assert [p["pareto"] for p in points] == [i in doc["pareto"] for i in range(len(points))]
    assert points[0]["energy_uj"] < points[1]["energy_uj"] < points[2]["energy_uj"]
    assert points[0]["accuracy"] < points[2]["accuracy"] and 0 in doc["pareto"]
    assert all(p["confirmed"] is None for p in points)  # --no-confirm
    # each accuracy recounted from the emulator's output spikes of an api build
    xs, ys = np.load(x), np.load(y)
    for p in points:
        build = api.build(DIGITS, "loihi2", p["weight_split"], p["weight_bits"])
        (out,) = build.hw_graph.outputs
        spikes = run_emulator(build.hw_graph, xs).outputs[out]
        assert p["accuracy"] == float(np.mean(spikes.sum(axis=1).argmax(axis=1) == ys) * 100)
        assert p["cores"] == build.placement.metrics["cores"]
    # the HTML: plot and one table row per point, the front's starred
    page = (tmp_path / "sweep.html").read_text()
    assert page.count("<img alt='Pareto plot' src='data:image/png;base64,") == 1
    table = page.split("<table id='points'>")[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + len(points)
    assert table.count("<td class='text'>*</td>") == len(doc["pareto"])
    # 2 worker processes: the same document, byte for byte
    assert _sweep_json(x, y, "2,4,8", "--no-confirm", "--workers", "2") == one.replace(
        json.dumps(str(tmp_path / "sweep.html")), "null")


def small_part(tmp_path: Path) -> Path:
    """A Loihi-2-like part of one 8-core chip with 1 KiB of synapse memory per core: the digits
    net needs more cores for more weight bits, and split weights at 4 or 8 bits do not fit."""
    folder = tmp_path / "tiny"
    shutil.copytree(registry() / "loihi2", folder)
    text = (folder / "target.toml").read_text()
    text = re.sub(r'(?m)^name = ".*"$', 'name = "tiny"', text, count=1)
    for key, value in [("memory_per_core_kib", 1), ("cores_per_chip", 8), ("mesh_rows", 2),
                       ("mesh_cols", 4), ("max_chips", 1)]:
        text, found = re.subn(rf"(?m)^{key} = \{{ value = \d+,", f"{key} = {{ value = {value},",
                              text, count=1)
        assert found == 1, key
    (folder / "target.toml").write_text(text)
    return folder


def test_points_that_do_not_fit_are_results_and_cores_are_the_placements(eight, tmp_path):
    x, y = eight
    part = small_part(tmp_path)
    code, out, err = invoke("sweep", DIGITS, "--target", part, "--input", x, "--labels", y,
                            "--weight-bits", "2,4,8", "--no-confirm", "--json")
    assert code == 0, err
    doc = json.loads(out)
    points = doc["points"]
    refused = [(p["weight_bits"], p["weight_split"]) for p in points if "error" in p]
    assert refused == [(4, True), (8, True)]
    assert all("allows 1 chips" in p["error"] and not p["pareto"] for p in points
               if "error" in p)
    placed = [p for p in points if "error" not in p]
    for p in placed:
        build = api.build(DIGITS, part, p["weight_split"], p["weight_bits"])
        assert p["cores"] == build.placement.metrics["cores"]
    assert len({p["cores"] for p in placed}) >= 3  # the cores objective separates points here
    keys = (("accuracy", 1), ("energy_uj", -1), ("cores", -1))
    kept = [i for i, p in enumerate(points) if "error" not in p and not any(
        all(s * q[k] >= s * p[k] for k, s in keys) and any(s * q[k] > s * p[k] for k, s in keys)
        for q in placed)]
    assert doc["pareto"] == kept


@pytest.mark.slow
def test_lava_confirms_the_front(eight):
    """The default for loihi2: the generated Lava program runs on the front's one point."""
    x, y = eight
    doc = json.loads(_sweep_json(x, y, "8"))
    confirmed = [p["confirmed"] for p in doc["points"] if p["pareto"]]
    assert confirmed and all(c == {"differing_entries": 0, "entries": 8 * 16 * 10}
                             for c in confirmed)
    assert all(p["confirmed"] is None for p in doc["points"] if not p["pareto"])


@pytest.mark.parametrize("args, words", [
    (("--weight-bits", "2,x"), ("--weight-bits", "'2,x'")),
    (("--weight-bits", "4,4"), ("--weight-bits lists 4 more than once",)),
    (("--weight-bits", "2,9"), ("--weight-bits", "from 1 to 8", "9")),
    (("--weight-split", "maybe"), ("--weight-split", "off and on")),
    (("--weight-bits", ""), ("--weight-bits",)),
    (("--target", "emu"), ("'emu' has no energy model",)),
    (("--workers", "0"), ("--workers", "got 0")),
])
def test_bad_grids_are_one_sentence(eight, args, words):
    x, y = eight
    assert_refused(invoke("sweep", DIGITS, "--input", x, "--labels", y, *args), *words)
