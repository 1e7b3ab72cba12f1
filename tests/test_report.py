"""`snncompile report` writes one self-contained HTML page; headless Chromium renders it and the
tests read what the rendered DOM shows: the verify verdict, accuracy, layers in network order,
the core table, energy shares, provenance. Chromium missing is a failure, never a skip (install:
apt-get install -y --no-install-recommends chromium)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from snncompile.report.charts import shown_neurons

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def _chromium() -> str:
    exe = (shutil.which("chromium") or shutil.which("chromium-browser")
           or shutil.which("google-chrome"))
    assert exe, "chromium is not installed (apt-get install -y --no-install-recommends chromium)"
    return exe


def _browser(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a file, with a fresh profile and no network side channels."""
    return subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={profile}", *args,
                           page.as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)


class _Dom(HTMLParser):
    """The rendered DOM as tables by id (rows of cell texts) and elements' text by id."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.text: dict[str, str] = {}
        self.attrs_of: dict[str, dict[str, str]] = {}
        self._open: list[str] = []  # ids of open elements whose text is collected
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.attrs_of[a["id"]] = a
        if tag == "div":  # text is collected per div (verdict, kpi), None for divs without id
            self._open.append(a.get("id"))
            if a.get("id"):
                self.text[a["id"]] = ""
        if tag == "table":
            self._table = a.get("id")
            if self._table:
                self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        if tag == "div" and self._open:
            self._open.pop()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for ident in self._open:
            if ident:
                self.text[ident] += data

    def rows(self, table: str) -> list[dict[str, str]]:
        head, *body = self.tables[table]
        return [dict(zip(head, r)) for r in body]


def _report(tmp_path: Path, model: Path, *args: str) -> Path:
    out = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "-m", "snncompile.cli", "report", str(model), "-o",
                        str(out), "--quiet", *args],
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing fetched
    return out


def _kpis(dom: _Dom) -> dict[str, str]:
    """KPI card name -> value, from the cards' text ('name' 'value' 'note')."""
    cards = re.findall(r"<div>([^<]+)<b>([^<]+)</b>", dom.kpi_html)
    return dict(cards)


def _render(out: Path, tmp_path: Path) -> _Dom:
    dump = _browser(out, tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom")
    dom = _Dom(dump.stdout)
    dom.kpi_html = dump.stdout[dump.stdout.index("id=\"kpi\""):]
    dom.raw = dump.stdout
    return dom


def test_digits_report_in_chromium(tmp_path, digits_inputs):
    """The page a user opens: verdict, accuracy, layers, cores, energy shares and provenance as
    the browser shows them, each checked against a figure computed here, not by the report."""
    from snncompile import api

    x_path, y_path = digits_inputs
    x, y = np.load(x_path)[:64], np.load(y_path)[:64]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = _report(tmp_path, DIGITS, "--target", "loihi2", "--input", str(tmp_path / "x.npy"),
                  "--labels", str(tmp_path / "y.npy"), "--pipelined")
    dom = _render(out, tmp_path)
    ok = re.search(r'data-charts-ok="(\d+)/(\d+)"', dom.raw)
    assert ok, "the page's load script did not run in chromium"
    decoded, total = map(int, ok.groups())
    assert total == 4 and decoded == total, ok.group(0)
    widths = [int(w) for w in re.findall(r'data-decoded="(\d+)"', dom.raw)]
    assert min(widths) > 200, widths

    assert dom.text["verdict"].startswith("PASS"), dom.text["verdict"]
    assert "pass" in dom.attrs_of["verdict"]["class"]
    checks = dom.rows("checks")
    assert {c["result"] for c in checks} == {"PASS"}
    assert any(c["check"].startswith("emulator vs loihi2") and c["limit"] == "≤ 0" for c in checks)
    assert any(c["check"] == "output spike-train agreement" and c["limit"] == "≥ 0.8"
               for c in checks)
    chain = {r["link"]: r["value"] for r in dom.rows("chain")}
    assert chain["emulator vs the generated Lava program (Lava fixed_pt models)"] == "identical"
    # float accuracy from the trainer's own torch module, run here
    torch_acc = 100 * np.mean(api.run_source(DIGITS, x).sum(axis=1).argmax(axis=1) == y)
    accuracy = {r["run"]: r["accuracy %"] for r in dom.rows("accuracy")}
    assert accuracy["float reference"] == f"{torch_acc:.4g}", (accuracy, torch_acc)
    kpis = _kpis(dom)
    assert kpis["verify"] == "PASS" and kpis["accuracy"].endswith("%")

    layers = dom.rows("layers")
    assert [r["layer"] for r in layers] == ["1", "3"]
    assert kpis["output agreement"] == f"{float(layers[-1]['train agreement']):.4f}"
    cores = dom.rows("cores")
    assert len(cores) == int(kpis["cores"]) >= 1
    held: dict[str, int] = {}
    for row in cores:
        for name, n in re.findall(r"(\w+) \((\d+)\)", row["layers (neurons)"]):
            held[name] = held.get(name, 0) + int(n)
    assert held == {r["layer"]: int(r["neurons"]) for r in layers}

    energy = {r["component"]: r for r in dom.rows("energy-table")}
    shares = [float(r["% of total"]) for name, r in energy.items() if name != "total"]
    assert abs(sum(shares) - 100) < 0.1, shares
    synaptic = float(energy["synaptic ops"]["µJ / inference"])
    assert 0 < synaptic < float(energy["total"]["µJ / inference"])
    assert "16 hw steps per inference (pipelined" in dom.raw  # T steps, not T + L
    est = api.estimate_energy(DIGITS, "loihi2", x, pipelined=True)  # `estimate --pipelined`
    assert energy["total"]["µJ / inference"] == f"{est['energy_uj']['total']:.4g}"
    assert kpis["latency / inference"] == f"{est['latency']['us_per_inference']:.4g} µs"

    prov = {r["item"]: r["value"] for r in dom.rows("provenance")}
    assert prov["model sha256"] == hashlib.sha256(DIGITS.read_bytes()).hexdigest()
    assert "--pipelined" in prov["command line"] and "--labels" in prov["command line"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", prov["date (UTC)"])

    shot = tmp_path / "report.png"
    _browser(out, tmp_path / "profile2", "--window-size=1200,3000", f"--screenshot={shot}")
    import matplotlib.image as mpimg

    px = mpimg.imread(shot)[..., :3]
    assert px.shape[0] >= 2000 and px.shape[1] >= 1000
    ink = (px.mean(axis=2) < 0.9).mean()  # fraction of non-white pixels
    colour = (px.max(axis=2) - px.min(axis=2) > 0.2).mean()  # chart colours, not just text
    assert ink > 0.03 and colour > 0.005, (ink, colour)
    green = ((px[..., 1] > 0.4) & (px[..., 0] < 0.3) & (px[..., 2] < 0.35)).any(axis=1)
    assert green[:400].any(), "the PASS banner is not green near the top of the page"


@pytest.mark.slow
def test_cnn_report_layers_in_network_order(tmp_path, third_party):
    """The NIR paper CNN's layers are named 1, 3, 6, 10, 12: sorted as strings they would read
    1, 10, 12, 3, 6 and the headline would show layer 6's agreement instead of the output's."""
    from snncompile import api

    model = third_party / "nir-paper" / "02_cnn" / "cnn_sinabs.nir"
    x = (np.random.default_rng(1).random((3, 8, 2, 34, 34)) < 0.2).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    out = _report(tmp_path, model, "--target", "loihi2", "--input", str(tmp_path / "x.npy"))
    dom = _render(out, tmp_path)
    layers = dom.rows("layers")
    assert [r["layer"] for r in layers] == ["1", "3", "6", "10", "12"]
    report = api.verify(model, x, "emu")
    output = next(la for la in report.layers if la.name == "output")
    assert _kpis(dom)["output agreement"] == f"{output.train_agreement:.4f}"
    assert float(layers[-1]["train agreement"]) == pytest.approx(output.train_agreement, abs=5e-5)
    six = next(la for la in report.layers if la.name == "6")
    assert f"{six.train_agreement:.4f}" != f"{output.train_agreement:.4f}"  # the old bug's
    cores = dom.rows("cores")
    assert len(cores) == int(_kpis(dom)["cores"]) > 1


def test_failing_model_shows_fail_and_the_failed_checks(tmp_path, digits_inputs):
    """2-bit weights lose most of the digits accuracy: the banner says FAIL, in red, naming
    the checks that failed with their limits; the page is still written (exit 0)."""
    x_path, y_path = digits_inputs
    np.save(tmp_path / "x.npy", np.load(x_path)[:32])
    np.save(tmp_path / "y.npy", np.load(y_path)[:32])
    out = _report(tmp_path, DIGITS, "--target", "emu", "--weight-bits", "2", "--input",
                  str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--sample", "3")
    dom = _render(out, tmp_path)
    assert dom.text["verdict"].startswith("FAIL") and "fail" in dom.attrs_of["verdict"]["class"]
    failed = [c for c in dom.rows("checks") if c["result"] == "FAIL"]
    assert any(c["check"] == "accuracy drop (points)" and c["limit"] == "≤ 1" for c in failed)
    assert "accuracy drop (points)" in dom.text["verdict"]
    assert "Worst layer: " in dom.text["verdict"] and "--weight-bits 8" in dom.text["verdict"]
    assert "Sample 3 of 32 (chosen with --sample)" in dom.raw


def test_sample_outside_the_input_is_one_sentence(tmp_path, digits_inputs):
    np.save(tmp_path / "x.npy", np.load(digits_inputs[0])[:4])
    r = subprocess.run([sys.executable, "-m", "snncompile.cli", "report", str(DIGITS), "-t",
                        "emu", "-i", str(tmp_path / "x.npy"), "--sample", "9", "-o",
                        str(tmp_path / "r.html")], capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--sample 9 is outside the input's 4 samples" in r.stderr


def test_rasters_keep_every_differing_neuron_when_subsampling():
    """Thousands of neurons: the raster shows at most 200 rows, every neuron where float and
    hardware differ among them (up to the cap), the rest evenly spaced."""
    rng = np.random.default_rng(0)
    f = rng.random((16, 4096)) < 0.1
    h = f.copy()
    flip = rng.choice(4096, 37, replace=False)
    h[3, flip] = ~h[3, flip]
    keep = shown_neurons(f, h)
    assert len(keep) == 200 and set(flip) <= set(keep.tolist())
    assert np.all(np.diff(keep) > 0)
    assert len(shown_neurons(f[:, :150], h[:, :150])) == 150  # small layers: all
    many = ~f  # every neuron differs: the cap still holds
    assert len(shown_neurons(f, many)) == 200


@pytest.mark.slow
def test_fpga_report_runs_the_rtl_beside_the_emulator(tmp_path, digits_inputs):
    """On fpga the target's own artefact is the generated RTL: the page shows its run equal to
    the emulator, its cores, and the cycle-model energy."""
    x_path, y_path = digits_inputs
    np.save(tmp_path / "x.npy", np.load(x_path)[:4])
    np.save(tmp_path / "y.npy", np.load(y_path)[:4])
    out = _report(tmp_path, DIGITS, "--target", "fpga", "--input", str(tmp_path / "x.npy"),
                  "--labels", str(tmp_path / "y.npy"))
    dom = _render(out, tmp_path)
    chain = {r["link"]: r["value"] for r in dom.rows("chain")}
    assert chain["emulator vs the generated RTL (Verilog simulation)"] == "identical"
    assert any(c["check"] == "emulator vs fpga: differing output entries"
               and c["result"] == "PASS" for c in dom.rows("checks"))
    energy = {r["component"] for r in dom.rows("energy-table")}
    assert {"synaptic ops", "static", "total"} <= energy
    assert "µJ" in _kpis(dom)["energy / inference"]
    rtl = dom.rows("rtl-cores")  # one RTL core per block: digits' 64 + 10 neurons
    assert [(r["layer"], int(r["neurons"])) for r in rtl] == [("1", 64), ("3", 10)]
    assert rtl[0]["reads from"] == "input (dense)" and rtl[1]["reads from"] == "core 0 (dense)"


@pytest.mark.slow
def test_loihi1_runs_on_the_emulator_and_is_placed(tmp_path, digits_inputs):
    """loihi1 names the emulator back end ([target] backend = "emu"): the page verifies the
    float model against the emulator in its formats, and shows the Loihi 1 placement and
    energy."""
    np.save(tmp_path / "x.npy", np.load(digits_inputs[0])[:4])
    out = _report(tmp_path, DIGITS, "--target", "loihi1", "--input", str(tmp_path / "x.npy"))
    dom = _render(out, tmp_path)
    assert dom.text["verdict"].startswith("PASS")
    assert "checks" in dom.tables
    assert len(dom.rows("cores")) == int(_kpis(dom)["cores"])
    assert float(dom.rows("energy-table")[-1]["µJ / inference"]) > 0


def test_labels_without_inputs_is_one_sentence(tmp_path):
    from snncompile import api
    from snncompile.errors import SnnCompileError

    with pytest.raises(SnnCompileError, match="give the samples too"):
        api.write_report(DIGITS, tmp_path / "r.html", "emu", labels=np.zeros(4, np.int64))
    assert not (tmp_path / "r.html").exists()
